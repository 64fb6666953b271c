"""A venue that changed under the bot (issue: the paper venue that forgot, a manual trade, a
reset) is an error that stops placing and leaves no order unmanaged — never a silent skip."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from bots.models import BotEvent, Fill, GridBot
from exchange.types import OrderSide
from tests.bots.runner_support import (
    finish,
    full_eth_grid,
    quiet,
    sim_open_orders,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)
ETH = 0


async def _running_grid(simulator, funded_account):
    account, bot, runner, task = await full_eth_grid(simulator, funded_account)
    return account, bot, runner, task


async def _manual_buy(account, size: Decimal) -> None:
    (index,) = await sync_to_async(account.allocate_client_order_indexes)(1)
    async with account.client() as client:
        ticket = await client.market_order(ETH, OrderSide.BUY, size, index)
        await client.resolve(ticket, 5.0, final=True)


async def _halted(bot: GridBot) -> list[str]:
    row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
    kinds = await sync_to_async(
        lambda: list(BotEvent.objects.filter(bot=bot, level="error").values_list("kind", flat=True))
    )()
    assert row.status == "error", row.status_message
    return kinds


async def test_a_position_that_moves_with_no_fill_of_ours_stops_the_bot(simulator, funded_account):
    account, bot, runner, task = await _running_grid(simulator, funded_account)

    # Someone trades on the bot's account and market by hand: not one of the bot's fills.
    await _manual_buy(account, Decimal("0.5"))
    runner.reconcile_due = True

    assert await finish(task) == "error"
    assert "venue_changed" in await _halted(bot)
    assert sim_open_orders(simulator, funded_account.index, ETH) == [], "orders left resting"


async def test_a_recorded_trade_reported_with_other_details_stops_the_bot(
    simulator, funded_account
):
    _account, bot, _runner, task = await _running_grid(simulator, funded_account)
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "3012.00"})
    simulator.advance(1000)

    async def filled() -> bool:
        return await sync_to_async(Fill.objects.filter(bot=bot).exists)()

    await wait_until(filled, what="a recorded fill")
    # Our record of the trade no longer matches the venue's (as after a venue that reused ids).
    await sync_to_async(lambda: Fill.objects.filter(bot=bot).update(price=Decimal("1")))()
    simulator.sim("POST", "/sim/ws/drop", {})  # the reconnect's snapshot re-reports the fills

    assert await finish(task) == "error"
    assert "venue_changed" in await _halted(bot)
    assert sim_open_orders(simulator, funded_account.index, ETH) == []


async def test_a_fill_in_flight_between_the_reads_is_not_a_venue_change(simulator, funded_account):
    _account, bot, runner, task = await _running_grid(simulator, funded_account)
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "3012.00"})
    simulator.advance(1000)
    runner.reconcile_due = True

    async def settled() -> bool:
        return quiet(runner, simulator) and not runner.reconcile_due

    await wait_until(settled, what="a reconcile after fills")
    runner.reconcile_due = True
    await wait_until(settled, what="a second reconcile")
    assert not task.done()
    row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
    assert row.status == "running"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
