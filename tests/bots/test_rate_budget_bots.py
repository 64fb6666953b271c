"""Three standard-tier bots of 10 levels per side on one account, with the simulator's rate limit
on (60 requests a minute): no request is ever answered 429, and every plan (the first placement
and each roll) goes out as exactly one sendTx/sendTxBatch request, counted on the simulator."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from bots.models import BotEvent
from tests.bots.runner_support import (
    GRID_SHAPES,
    account_on,
    grid_bot,
    quiet,
    sim_open_orders,
    start_runners,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)
LEVELS = 10
MARKETS = {"ETH": 0, "BTC": 1, "SOL": 2}
# Steps of the price path in grid steps: up, up, reversal, down, back up.
MOVES = (Decimal("1.5"), Decimal("2.2"), Decimal("-1.3"), Decimal("-2.6"), Decimal("1.1"))
SIM_SECONDS_PER_STEP = 5000


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url


def access_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]


async def test_three_standard_bots_never_get_429_and_each_plan_is_one_request(simulator, caplog):
    # The simulator logs each request at DEBUG ("POST /api/v1/sendTx 200 1.2ms").
    caplog.set_level(logging.DEBUG, logger="aiohttp.access")
    sim_account = simulator.create_account(tier="standard")
    simulator.ratelimit(enabled=True, standard_per_minute=60)
    account = await sync_to_async(account_on)(simulator, sim_account, tier="standard")
    bots = [
        await sync_to_async(grid_bot)(
            account, s, levels=LEVELS, max_position_notional=Decimal("5000")
        )
        for s in MARKETS
    ]
    runners, tasks = await start_runners(bots)

    async def all_quiet() -> bool:
        full = all(
            len(sim_open_orders(simulator, sim_account.index, m)) == 2 * LEVELS
            for m in MARKETS.values()
        )
        return full and all(quiet(r, simulator) for r in runners)

    await wait_until(all_quiet, timeout_s=60, what="three full grids")
    references = {r.symbol: r.market_view().mid for r in runners}
    for move in MOVES:
        for symbol, market_id in MARKETS.items():
            references[symbol] += move * GRID_SHAPES[symbol]["step"]
            simulator.sim(
                "POST", "/sim/price", {"market_id": market_id, "price": str(references[symbol])}
            )
        simulator.advance(SIM_SECONDS_PER_STEP)
        await wait_until(all_quiet, timeout_s=60, what="grids after a move")

    for task in tasks:
        task.cancel()
    # A plan's event is written with the runner's next record (it may wait a moment for one)
    # or when the runner ends: count them once the runners have ended.
    await asyncio.gather(*tasks, return_exceptions=True)
    lines = access_lines(caplog)
    sends = [line for line in lines if "/sendTx" in line]
    plans = await sync_to_async(
        lambda: BotEvent.objects.filter(bot__in=bots, kind="plan").count()
    )()
    assert lines and all(len(line.split()) == 4 for line in lines)
    assert not [line for line in lines if line.split()[2] == "429"]
    # One leverage update per bot at its start, then one request per plan.
    assert len(sends) - len(bots) == plans == sum(r.sends for r in runners)
    assert plans > len(MOVES)
