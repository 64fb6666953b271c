"""The recorder against the simulator's `candles` endpoint: a backfill then an incremental run
store exactly what the venue serves (no gap, no duplicate), and it yields when the bots' shared
budget is past its share."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from bots.backtest import recorder
from bots.models import Candle
from exchange.budget import RequestBudget
from exchange.redis_clients import async_redis_client
from exchange.types import OrderSide
from tests.bots.runner_support import account_on
from tests.exchange.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)
ETH = 0


@pytest.fixture(autouse=True)
def _no_cursors(redis_client) -> None:  # type: ignore[no-untyped-def]
    # The recorder's cursors live in Redis, which outlives each test's database.
    for key in redis_client.scan_iter("lighterweb:recorder:*"):
        redis_client.delete(key)


def trade(simulator, sim_account, redis_url: str, n: int, first_index: int) -> None:  # type: ignore[no-untyped-def]
    async def go() -> None:
        async with client_for(simulator, sim_account, redis_url) as client:
            for i in range(n):
                ticket = await client.market_order(ETH, OrderSide.BUY, Decimal("0.1"),
                                                   first_index + i)  # fmt: skip
                await client.resolve(ticket, final=True)

    asyncio.run(go())


def venue_candles(simulator, sim_account, redis_url: str, start: int, end: int) -> list:  # type: ignore[no-untyped-def,type-arg]
    async def go() -> list:  # type: ignore[type-arg]
        async with client_for(simulator, sim_account, redis_url) as client:
            return await client.candles(ETH, "1m", start, end)

    return asyncio.run(go())


def stored() -> list[tuple[int, Decimal]]:
    return list(
        Candle.objects.filter(network="paper", market_id=ETH)
        .order_by("open_time_ms")
        .values_list("open_time_ms", "close")
    )


def test_backfill_then_incremental_match_the_venue(  # type: ignore[no-untyped-def]
    simulator, funded_account, redis_url, settings
) -> None:
    settings.REDIS_URL = redis_url
    account = account_on(simulator, funded_account)

    def now() -> int:
        return int(simulator.call(lambda: simulator.server.now_ms()))

    trade(simulator, funded_account, redis_url, 2, 100)
    simulator.advance(3 * 60_000)
    trade(simulator, funded_account, redis_url, 1, 200)
    simulator.advance(60_000)
    first_now = now()
    reports = recorder.record_network(account, first_now, backfill_days=1)
    eth = next(r for r in reports if r.market_id == ETH)
    assert not eth.yielded and eth.candles == 2 and eth.pages == 3  # a day: 3 pages of 499
    start = first_now - 86_400_000
    venue = venue_candles(simulator, funded_account, redis_url, start, first_now - 60_000)
    assert stored() == [(c.timestamp_ms, c.close) for c in venue]

    # Later: more trades; the next run asks only from where the last one stopped.
    trade(simulator, funded_account, redis_url, 1, 300)
    simulator.advance(2 * 60_000)
    trade(simulator, funded_account, redis_url, 1, 400)
    simulator.advance(60_000)
    second_now = now()
    reports = recorder.record_network(account, second_now, backfill_days=1)
    eth = next(r for r in reports if r.market_id == ETH)
    assert eth.candles == 2 and eth.pages == 1  # only the new minutes: one page
    venue = venue_candles(simulator, funded_account, redis_url, start, second_now - 60_000)
    assert len(venue) == 4
    assert stored() == [(c.timestamp_ms, c.close) for c in venue]  # no gap, no duplicate


def test_yields_when_the_bots_use_the_budget(  # type: ignore[no-untyped-def]
    simulator, funded_account, redis_url, settings
) -> None:
    settings.REDIS_URL = redis_url
    account = account_on(simulator, funded_account)

    async def spend() -> None:
        redis = async_redis_client(redis_url)
        budget = RequestBudget(redis, account.budget_key, "premium")
        await budget.acquire(weight=13_000)  # the bots used over half the minute's 24,000
        await redis.aclose()

    asyncio.run(spend())
    now = int(simulator.call(lambda: simulator.server.now_ms()))
    (first, *rest) = recorder.record_network(account, now, backfill_days=1)
    assert first.yielded and first.requests == 0 and rest == []
    assert Candle.objects.count() == 0


def test_beat_runs_the_recorder_and_workers_know_the_backtest_tasks() -> None:
    from lighterweb.celery import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "bots.backtest.tasks.candles_record_task" in scheduled
    names = {"candles_record_task", "backtest_run_task", "sweep_run_task", "candles_import_task"}
    assert {f"bots.backtest.tasks.{name}" for name in names} <= set(app.tasks)
    # None of them is routed to the bots queue: they run on the default one.
    assert all(not name.startswith("bots.backtest") for name in app.conf.task_routes)
