"""The runner of one bot against the in-process simulator (real SDK, real Redis, real DB)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from bots.models import BotEvent, GridBot, Order
from tests.bots.runner_support import (
    account_on,
    finish,
    grid_bot,
    quiet,
    set_desired,
    sim_open_orders,
    start_runner,
    start_runners,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url


@pytest.fixture
def eth_bot(simulator, funded_account):
    account = account_on(simulator, funded_account)
    return grid_bot(account, "ETH", levels=5)


async def test_started_bot_places_n_buys_below_and_n_sells_above_then_stop_cancels_them(
    simulator, funded_account, eth_bot
):
    task = start_runner(eth_bot.pk)

    async def full_grid() -> bool:
        return len(sim_open_orders(simulator, funded_account.index, 0)) == 10

    await wait_until(full_grid, what="10 resting orders")
    orders = sim_open_orders(simulator, funded_account.index, 0)
    buys = sorted(o.price for o in orders if not o.is_ask)
    sells = sorted(o.price for o in orders if o.is_ask)
    assert len(buys) == len(sells) == 5
    assert max(buys) < min(sells)

    await sync_to_async(set_desired)(eth_bot, "stopped")
    status = await finish(task)

    assert status == "stopped"
    assert sim_open_orders(simulator, funded_account.index, 0) == []
    bot = await sync_to_async(GridBot.objects.get)(pk=eth_bot.pk)
    assert bot.status == "stopped"
    active = await sync_to_async(
        lambda: Order.objects.filter(bot=bot, status__in=["intent", "pending", "open"]).count()
    )()
    assert active == 0
    kinds = await sync_to_async(
        lambda: set(BotEvent.objects.filter(bot=bot).values_list("kind", flat=True))
    )()
    assert {"recovered", "plan", "stopped"} <= kinds


async def test_paused_bot_keeps_resting_orders_places_nothing_and_resumes(
    simulator, funded_account, eth_bot
):
    index = funded_account.index
    (runner,), (task,) = await start_runners([eth_bot])

    async def full_and_quiet() -> bool:
        return quiet(runner, simulator) and len(sim_open_orders(simulator, index, 0)) == 10

    await wait_until(full_and_quiet, what="a full grid")
    await sync_to_async(set_desired)(eth_bot, "paused")
    await wait_until(lambda: _status_is(eth_bot, "paused"), what="paused")
    simulator.sim("POST", "/sim/price", {"market_id": 0, "price": "3012.00"})
    simulator.advance(1000)

    async def fills_seen_while_paused() -> bool:
        return quiet(runner, simulator) and runner.position < 0

    await wait_until(fills_seen_while_paused, what="fills recorded while paused")
    resting = sim_open_orders(simulator, index, 0)
    assert 0 < len(resting) < 10, "filled orders are not replaced while paused"

    await sync_to_async(set_desired)(eth_bot, "running")
    await wait_until(full_and_quiet, what="the grid restored after resume")
    await sync_to_async(set_desired)(eth_bot, "stopped")
    assert await finish(task) == "stopped"
    assert sim_open_orders(simulator, index, 0) == []
    assert runner.position < 0, "a stop keeps the position"


async def _status_is(bot, status: str) -> bool:
    current = await sync_to_async(
        lambda: GridBot.objects.values_list("status", flat=True).get(pk=bot.pk)
    )()
    return current == status
