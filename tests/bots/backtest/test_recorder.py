"""The recorder against the simulator's `candles` endpoint: a backfill then an incremental run
store exactly what the venue serves (no gap, no duplicate), it yields when the bots' shared
budget is past its share, and it records while three grid bots trade on the same account with
the simulator's rate limits on without anyone seeing a 429."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from bots.backtest import recorder
from bots.models import BotEvent, Candle
from exchange.budget import RequestBudget
from exchange.redis_clients import async_redis_client
from exchange.types import OrderSide
from tests.bots.runner_support import (
    GRID_SHAPES,
    account_on,
    grid_bot,
    quiet,
    sim_open_orders,
    start_runners,
    wait_until,
)
from tests.exchange.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)
ETH = 0
MARKETS = {"ETH": 0, "BTC": 1, "SOL": 2}


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
    simulator, funded_account, redis_url, redis_client, settings
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

    # Later: more trades; the next run asks only from where the last one stopped. The venue's
    # clock moved minutes on, Redis' did not: the recorder's own share of the minute is renewed
    # as it would be by then.
    for key in redis_client.scan_iter("lighterweb:recorder:spent:*"):
        redis_client.delete(key)
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


def test_yields_to_the_bots_of_an_account_without_an_l1_address(  # type: ignore[no-untyped-def]
    simulator, funded_account, redis_url, settings
) -> None:
    """An account whose L1 address is not known yet spends the budget named by its index: the
    recorder's reads (an unsigned client) must look at and spend that same budget, not one
    shared by every unsigned client of every such account."""
    settings.REDIS_URL = redis_url
    account = account_on(simulator, funded_account)
    account.l1_address = ""
    account.save(update_fields=["l1_address"])
    assert account.budget_key == f"account-{funded_account.index}"

    async def spend() -> None:
        redis = async_redis_client(redis_url)
        budget = RequestBudget(redis, account.budget_key, "premium")
        await budget.acquire(weight=13_000)  # the bots used over half the minute's 24,000
        await redis.aclose()

    asyncio.run(spend())
    now = int(simulator.call(lambda: simulator.server.now_ms()))
    (first, *rest) = recorder.record_network(account, now, backfill_days=1)
    assert first.yielded and first.requests == 0 and rest == []


async def test_a_backfill_leaves_room_for_three_grid_starts(  # type: ignore[no-untyped-def]
    simulator, redis_url, settings
) -> None:
    """A fresh stack: the recorder starts a month's backfill of three markets (hundreds of
    pages) on the standard account the trader is about to trade on. The three grids started
    right after it must not wait for the budget: the recorder holds at most its own share of
    the minute, and what it leaves the bots' lane holds three grid starts."""
    settings.REDIS_URL = redis_url
    sim_account = simulator.create_account(tier="standard")
    simulator.ratelimit(enabled=True, standard_per_minute=60)
    account = await sync_to_async(account_on)(simulator, sim_account, tier="standard")
    now = int(simulator.call(lambda: simulator.server.now_ms()))
    reports = await sync_to_async(recorder.record_network, thread_sensitive=False)(
        account, now, backfill_days=30
    )
    assert reports and reports[-1].yielded, reports  # it wanted more than one run's share
    spent = sum(r.requests for r in reports)

    bots = [await sync_to_async(grid_bot)(account, s, levels=3) for s in MARKETS]
    runners, tasks = await start_runners(bots)

    async def all_full() -> bool:
        full = all(
            len(sim_open_orders(simulator, sim_account.index, m)) == 6 for m in MARKETS.values()
        )
        return full and all(quiet(r, simulator) for r in runners)

    await wait_until(all_full, timeout_s=90, what="three full grids")
    # the runners of one process share their account's budget object and its count of waits
    budgets = {id(b): b for b in (r.client.http.budget for r in runners) if b is not None}
    waits = sum(b.waits for b in budgets.values())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert budgets and waits == 0
    assert 0 < spent <= 37 // 4, reports  # a quarter of the bots' lane of a standard minute


def test_beat_runs_the_recorder_and_workers_know_the_backtest_tasks() -> None:
    from lighterweb.celery import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "bots.backtest.tasks.candles_record_task" in scheduled
    names = {"candles_record_task", "backtest_run_task", "sweep_run_task", "candles_import_task"}
    assert {f"bots.backtest.tasks.{name}" for name in names} <= set(app.tasks)
    # None of them is routed to the bots queue: they run on the default one.
    assert all(not name.startswith("bots.backtest") for name in app.conf.task_routes)


LEVELS = 4
# Three quiet grids on a standard account spend ~28 of the minute's 60 requests on their
# reconciles, so a run that finds room (under half the minute used) may read only a page or two
# before it yields again; the day's backfill of three markets is ~15 requests. The bound counts
# runs that found room, not wall time.
MAX_CATCH_UP_RUNS = 25


@pytest.mark.slow  # a minute of wall time: the budget's rolling window has to make room
@pytest.mark.parametrize("tier", ["standard", "premium"])
async def test_records_while_three_bots_trade_without_a_429(  # type: ignore[no-untyped-def]
    simulator, redis_url, settings, caplog, tier
) -> None:
    """Three grid bots trade on one account, with the simulator's rate limits on, while the
    recorder backfills a day and then keeps up minute by minute: the store holds exactly the
    venue's candles (no gap, no duplicate) and no request of anyone is answered 429."""
    settings.REDIS_URL = redis_url
    caplog.set_level(logging.DEBUG, logger="aiohttp.access")  # "GET /api/v1/candles 200 1ms"
    sim_account = simulator.create_account(tier=tier)
    simulator.ratelimit(enabled=True, standard_per_minute=60)
    account = await sync_to_async(account_on)(simulator, sim_account, tier=tier)
    bots = [await sync_to_async(grid_bot)(account, s, levels=LEVELS) for s in MARKETS]
    runners, tasks = await start_runners(bots)

    async def all_quiet() -> bool:
        full = all(
            len(sim_open_orders(simulator, sim_account.index, m)) == 2 * LEVELS
            for m in MARKETS.values()
        )
        return full and all(quiet(r, simulator) for r in runners)

    def now() -> int:
        return int(simulator.call(lambda: simulator.server.now_ms()))

    async def record() -> list[recorder.MarketReport]:
        return await sync_to_async(recorder.record_network, thread_sensitive=False)(
            account, now(), backfill_days=1
        )

    await wait_until(all_quiet, timeout_s=60, what="three full grids")
    mids = {r.symbol: r.market_view().mid for r in runners}
    # Moves that fill grid orders (trades make candles), each a minute apart; the recorder's
    # first run (the day's backfill) starts while the bots roll their grids after the first.
    reports: list[list[recorder.MarketReport]] = []
    for i, move in enumerate(("1.5", "-2.5", "1.2", "2.1", "-1.4")):
        for symbol, market_id in MARKETS.items():
            mids[symbol] += Decimal(move) * GRID_SHAPES[symbol]["step"]
            simulator.sim(
                "POST", "/sim/price", {"market_id": market_id, "price": str(mids[symbol])}
            )
        simulator.advance(60_000)
        running = asyncio.ensure_future(record())
        await wait_until(all_quiet, timeout_s=60, what=f"grids after move {i}")
        reports.append(await running)
    # The bots' busy minute (three grids placed and rolled five times, in seconds of wall
    # time) made the recorder yield; once the rolling minute leaves it room, it catches up.
    redis = async_redis_client(redis_url)
    budget = RequestBudget(redis, account.budget_key, tier)

    async def room() -> bool:
        return await recorder.has_room(budget)

    simulator.advance(60_000)
    for _ in range(MAX_CATCH_UP_RUNS):
        await wait_until(room, timeout_s=75, what="the budget's minute to roll")
        reports.append(await record())
        if not any(r.yielded for r in reports[-1]):
            break
    await redis.aclose()
    assert not any(r.yielded for r in reports[-1]), f"never caught up: {reports}"
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    refused = [line for line in lines if line.split()[2] == "429"]
    assert lines and refused == []
    failures = await sync_to_async(
        lambda: list(
            BotEvent.objects.filter(bot__in=bots, kind="send_failed").values_list(
                "message", flat=True
            )
        )
    )()
    assert failures == []
    assert any(r.yielded for run in reports for r in run), "the bots' minute made it yield"
    last = now() - now() % 60_000 - 60_000
    traded = 0
    for market_id in MARKETS.values():
        venue = await venue_candles_of(simulator, sim_account, redis_url, market_id, last)
        traded += len(venue)
        got = list(
            await sync_to_async(
                lambda m=market_id: list(
                    Candle.objects.filter(network="paper", market_id=m)
                    .order_by("open_time_ms")
                    .values_list("open_time_ms", "close")
                )
            )()
        )
        want = [(c.timestamp_ms, c.close) for c in venue]
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        assert got == want, f"market {market_id}: missing {missing}, extra {extra}, {reports}"
    assert traded >= 4, "the moves made trades, so candles"


async def venue_candles_of(
    simulator, sim_account, redis_url: str, market_id: int, last: int
) -> list:  # type: ignore[no-untyped-def,type-arg]
    async with client_for(simulator, sim_account, redis_url) as client:
        return await client.candles(market_id, "1m", last - 86_400_000, last + 59_999)  # type: ignore[no-any-return]
