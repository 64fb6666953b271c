"""Bookkeeping that moves no money and ends no order (acknowledgements, a filled order's report,
batches sent) waits for the next record instead of a transaction of its own, and reaches the
database within the hold."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async

from bots.engine.runner import GRID_OPTIONS
from bots.models import Fill, GridBot, Order
from bots.strategies.orders import ACTIVE
from tests.bots.runner_support import (
    account_on,
    finish,
    grid_bot,
    quiet,
    set_desired,
    sim_open_orders,
    start_runners,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)
ETH = 0


def _fills(bot: GridBot) -> int:
    return Fill.objects.filter(bot=bot).count()


def _active(bot: GridBot) -> dict[int, str]:
    rows = Order.objects.filter(bot=bot, status__in=ACTIVE)
    return dict(rows.values_list("client_order_index", "status"))


async def _fill_nearest(simulator, runner, side: str) -> None:
    """Move the price through the grid's nearest order on `side`, then wait the runner out."""
    prices = [o.price for o in runner.orders.working() if str(o.side) == side]
    target = min(prices) + 2 if side == "sell" else max(prices) - 2
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": str(target)})
    simulator.advance(1000)
    await wait_until(lambda: _settled(runner, simulator), what=f"the grid settled at {target}")


async def _settled(runner, simulator) -> bool:
    resting = sim_open_orders(simulator, runner.bot.account.account_index, ETH)
    same = set(runner.orders.live) == {o.client_order_index for o in resting}
    return quiet(runner, simulator) and not runner.orders.cancelling and same and len(resting) == 6


async def test_a_fill_costs_one_record_and_the_bookkeeping_reaches_the_database_in_time(
    simulator, funded_account
):
    account = await sync_to_async(account_on)(simulator, funded_account)
    bot = await sync_to_async(grid_bot)(account, "ETH", levels=3)
    (runner,), (task,) = await start_runners([bot])

    async def full() -> bool:
        return await _settled(runner, simulator)

    await wait_until(full, what="six resting orders")
    records, fills = runner.records, await sync_to_async(_fills)(bot)
    # Each move fills the grid's nearest order; the grid replenishes and re-centres.
    for side in ("sell", "buy") * 4:
        await _fill_nearest(simulator, runner, side)
    fills = await sync_to_async(_fills)(bot) - fills
    records = runner.records - records
    assert fills >= 6, "the walk traded the grid's levels"
    # Before: a fill's order report, its fill, the acknowledgements of its replenish orders and
    # the end of the cancel sent with them came in bursts each recorded in a transaction of its
    # own (30 records for 8 fills). The acknowledgements and the order report now ride along.
    assert records <= 2 * fills + 2, f"{records} records for {fills} fills"

    # What is held reaches the database within the hold, with no event to carry it.
    index = account.account_index
    deadline = time.monotonic() + GRID_OPTIONS.bookkeeping_held_s + 2 * GRID_OPTIONS.tick_s + 1

    async def recorded() -> bool:
        resting = {o.client_order_index for o in sim_open_orders(simulator, index, ETH)}
        active = await sync_to_async(_active)(bot)
        return set(active) == resting and set(active.values()) == {"open"}

    await wait_until(recorded, timeout_s=deadline - time.monotonic(), what="the rows as resting")
    await sync_to_async(set_desired)(bot, "stopped")
    assert await finish(task) == "stopped"
