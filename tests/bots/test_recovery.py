"""Startup is recovery: a runner restarted mid-run adopts its resting orders, records the fills
missed while it was down, takes over the position, and resolves intents that never went out."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from bots import selectors
from bots.engine import recording, reports
from bots.models import BotEvent, Fill, GridBot, Order
from bots.strategies.accounting import Ledger
from bots.strategies.grid import DesiredOrder, Side
from exchange.stream_events import Stale
from tests.bots.runner_support import (
    account_on,
    finish,
    grid_bot,
    set_desired,
    sim_open_orders,
    start_runners,
    wait_full_grid,
)

pytestmark = pytest.mark.django_db(transaction=True)
LEVELS = 5


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url


@pytest.fixture
def eth_bot(simulator, funded_account):
    account = account_on(simulator, funded_account)
    return grid_bot(account, "ETH", levels=LEVELS)


def sim_trade_ids(simulator, account_index: int) -> set[int]:
    return simulator.call(
        lambda: {t.trade_id for t in simulator.engine.state.history.by_account[account_index]}
    )


def sim_position(simulator, account_index: int) -> Decimal:
    def read() -> Decimal:
        state = simulator.engine.state
        pos = state.accounts[account_index].positions.get(0)
        return Decimal(0) if pos is None else state.markets[0].units.size(pos.size) * pos.sign

    return simulator.call(read)


def new_fence(bot: GridBot, fence: int) -> None:
    GridBot.objects.filter(pk=bot.pk).update(lease_fence=fence)


async def test_restarted_runner_adopts_orders_records_missed_fills_and_takes_over_the_position(
    simulator, funded_account, eth_bot
):
    index = funded_account.index
    (first,), (task,) = await start_runners([eth_bot])
    await wait_full_grid(first, simulator, index, 2 * LEVELS)
    before = {o.client_order_index for o in sim_open_orders(simulator, index, 0)}
    task.cancel()  # a crash: the loop ends without cleaning up
    with pytest.raises(asyncio.CancelledError):
        await task
    simulator.sim("POST", "/sim/price", {"market_id": 0, "price": "3012.00"})
    simulator.advance(1000)
    missed = sim_trade_ids(simulator, index)
    assert missed, "the price move should fill some sells while the runner is down"
    await sync_to_async(new_fence)(eth_bot, 2)

    (second,), (task,) = await start_runners([eth_bot], fence=2)
    await wait_full_grid(second, simulator, index, 2 * LEVELS)

    orders = sim_open_orders(simulator, index, 0)
    assert len({o.price for o in orders}) == len(orders) == 2 * LEVELS
    assert before & {o.client_order_index for o in orders}, "resting orders were adopted"
    recorded = await sync_to_async(
        lambda: list(Fill.objects.filter(bot=eth_bot).values_list("trade_id", flat=True))
    )()
    assert sorted(recorded) == sorted(sim_trade_ids(simulator, index))
    # The round trips named live and across the restart are those of the whole history's fold.
    books = await sync_to_async(selectors.bot_ledger)(eth_bot)
    named = await sync_to_async(
        lambda: list(Fill.objects.filter(bot=eth_bot).values_list("trade_id", "round_trip_id"))
    )()
    assert all(rt is not None and rt == books.round_trip_of(tid) for tid, rt in named)
    assert second.position == sim_position(simulator, index) < 0
    event = await sync_to_async(
        lambda: BotEvent.objects.filter(bot=eth_bot, kind="recovered").order_by("-id").first()
    )()
    assert event.data["adopted"] > 0 and event.data["fills"] == len(missed)
    # The position on the market's size decimals (the row's ten decimals read as noise).
    assert f"position {second.position.quantize(Decimal('0.0001'))} ETH;" in event.message
    await sync_to_async(set_desired)(eth_bot, "stopped")
    assert await finish(task) == "stopped"


async def test_a_cancel_landing_in_the_turn_an_event_arrives_still_ends_the_runner(
    simulator, funded_account, eth_bot
):
    # The crash the restart tests simulate must be a crash: asyncio.wait_for on Python 3.11 would
    # return the queued event and swallow this cancel, leaving the "dead" runner trading.
    (runner,), (task,) = await start_runners([eth_bot])
    await wait_full_grid(runner, simulator, funded_account.index, 2 * LEVELS)

    runner.events.put_nowait((runner.leg, Stale(silent_s=0.0)))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(task), 10)


async def test_an_intent_that_never_went_out_is_resolved_as_never_executed(
    simulator, funded_account, eth_bot
):
    order = DesiredOrder(
        level=-9, side=Side.BUY, price=Decimal("2955"), size_base=Decimal("0.01"), post_only=True
    )
    (intent,) = await sync_to_async(recording.order_intents_create)(eth_bot, 1, [order])

    (runner,), (task,) = await start_runners([eth_bot])
    await wait_full_grid(runner, simulator, funded_account.index, 2 * LEVELS)

    row = await sync_to_async(Order.objects.get)(pk=intent.pk)
    assert (row.status, row.reason) == ("rejected", "never executed by the exchange")
    await sync_to_async(set_desired)(eth_bot, "stopped")
    assert await finish(task) == "stopped"


def test_a_write_with_a_superseded_fence_raises_lease_lost_and_writes_nothing(eth_bot):
    new_fence(eth_bot, 2)

    with pytest.raises(recording.LeaseLost):
        recording.bot_update(eth_bot, 1, status="running")
    with pytest.raises(recording.LeaseLost):
        recording.event_add(eth_bot, 1, "plan", "stale runner")
    note = ("plan", "stale runner", {})
    with pytest.raises(recording.LeaseLost):
        reports.burst_record(eth_bot, 1, [], [], [], Ledger(), [recording.SentBatch([], [], note)])

    eth_bot.refresh_from_db()
    assert eth_bot.status == "stopped"
    assert not BotEvent.objects.filter(bot=eth_bot).exists()
