"""A bot's position is its own (issue 10 item 4), through the real runner and the simulator: a
stopped ETH grid leaves a position, a new ETH bot must choose to adopt or leave it, and a trade
nobody's fills explain stops the bot."""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import transaction

from bots import ownership, selectors, services
from bots.models import BotEvent, GridBot, PositionTransfer
from exchange.types import OrderSide
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
LEVELS = 3


def sim_position(simulator, account_index: int) -> Decimal:
    def read() -> Decimal:
        state = simulator.engine.state
        pos = state.accounts[account_index].positions.get(ETH)
        return Decimal(0) if pos is None else state.markets[ETH].units.size(pos.size) * pos.sign

    return simulator.call(read)


async def _full_and_quiet(runner, simulator, index: int) -> None:
    async def ready() -> bool:
        orders = sim_open_orders(simulator, index, ETH)
        return quiet(runner, simulator) and len(orders) == 2 * LEVELS

    await wait_until(ready, what="a full, quiet grid")


async def _leftover(simulator, funded_account):
    """An ETH grid that traded, then stopped: its position stays on the account."""
    account = await sync_to_async(account_on)(simulator, funded_account)
    first = await sync_to_async(grid_bot)(account, "ETH", levels=LEVELS, name="first ETH")
    (runner,), (task,) = await start_runners([first])
    await _full_and_quiet(runner, simulator, funded_account.index)
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "3012.00"})
    simulator.advance(1000)

    async def short_and_quiet() -> bool:
        return quiet(runner, simulator) and runner.position < 0

    await wait_until(short_and_quiet, what="sells filled")
    await sync_to_async(set_desired)(first, "stopped")
    assert await finish(task) == "stopped"
    left = sim_position(simulator, funded_account.index)
    assert left == runner.position < 0
    return account, first, left


def _new_bot(account) -> GridBot:
    bot = grid_bot(account, "ETH", levels=LEVELS, name="second ETH")
    GridBot.objects.filter(pk=bot.pk).update(desired_state="stopped")
    bot.refresh_from_db()
    return bot


def _start_refusal(bot: GridBot) -> ValidationError:
    with pytest.raises(services.BotActionRefused) as refused, transaction.atomic():
        services.bot_start(bot, actor="op")
        # Rolled back: a start that went through must not enqueue a real task from a test.
        raise AssertionError("the bot started without the operator's choice")
    assert isinstance(refused.value.__cause__, ValidationError)
    return refused.value.__cause__


def _answer(bot: GridBot, choice: str) -> None:
    # What bots.services.bot_start writes with the operator's answer (its commit would also
    # enqueue the Celery task; here the runner runs in-process).
    question = ownership.start_question(bot)
    GridBot.objects.filter(pk=bot.pk).update(
        desired_state="running",
        status="starting",
        unattributed_choice=choice,
        unattributed_choice_base=question.size_base,
    )


def _ownership_now(account) -> list[ownership.MarketOwnershipRow]:
    account.refresh_from_db()
    return ownership.account_ownership(account)


async def _manual_buy(account, size: Decimal) -> None:
    (index,) = await sync_to_async(account.allocate_client_order_indexes)(1)
    async with account.client() as client:
        ticket = await client.market_order(ETH, OrderSide.BUY, size, index)
        await client.resolve(ticket, 5.0, final=True)


async def test_a_new_bot_must_choose_and_after_leave_owns_nothing_then_a_manual_trade_stops_it(
    simulator, funded_account
):
    account, first, left = await _leftover(simulator, funded_account)
    second = await sync_to_async(_new_bot)(account)

    refusal = await sync_to_async(_start_refusal)(second)
    (message,) = refusal.message_dict["unattributed"]
    assert ownership.plain(left) in message and "adopt" in message and "leave" in message

    await sync_to_async(_answer)(second, "leave")
    (runner,), (task,) = await start_runners([second])
    await _full_and_quiet(runner, simulator, funded_account.index)

    # Left alone: the new bot owns nothing, its caps and its PnL panel agree on it.
    pnl = await sync_to_async(selectors.bot_pnl)(second)
    assert runner.strategy.position_base == pnl.summary.position_base == 0
    assert await sync_to_async(ownership.bot_position)(first.pk) == left
    rows = await sync_to_async(_ownership_now)(account)
    (eth,) = [r for r in rows if r.symbol == "ETH"]
    assert eth.exchange_base == left and eth.unattributed == 0

    # Someone trades on the account by hand: no bot's fill explains it.
    await _manual_buy(account, Decimal("0.5"))
    runner.reconcile_due = True
    assert await finish(task) == "error"
    errors = await sync_to_async(
        lambda: list(BotEvent.objects.filter(bot=second, level="error").values_list("kind"))
    )()
    assert ("venue_changed",) in errors
    assert sim_open_orders(simulator, funded_account.index, ETH) == [], "no more placements"
    # The account's figures now show the manual trade as unattributed.
    rows = await sync_to_async(_ownership_now)(account)
    (eth,) = [r for r in rows if r.symbol == "ETH"]
    assert eth.unattributed == Decimal("0.5")


async def test_adopt_makes_the_leftover_the_new_bots_own_at_the_mark(simulator, funded_account):
    account, first, left = await _leftover(simulator, funded_account)
    second = await sync_to_async(_new_bot)(account)
    await sync_to_async(_answer)(second, "adopt")

    (runner,), (task,) = await start_runners([second])
    await _full_and_quiet(runner, simulator, funded_account.index)

    assert runner.strategy.position_base == runner.position == left
    assert await sync_to_async(ownership.bot_position)(first.pk) == 0
    assert await sync_to_async(ownership.bot_position)(second.pk) == left
    transfer = await sync_to_async(PositionTransfer.objects.get)(bot=second)
    pnl = await sync_to_async(selectors.bot_pnl)(second)
    assert pnl.summary.avg_entry_price == transfer.price  # cost basis: the price at adoption
    row = await sync_to_async(GridBot.objects.get)(pk=second.pk)
    assert (row.unattributed_choice, row.unattributed_choice_base) == ("", 0)
    kinds = await sync_to_async(lambda: set(BotEvent.objects.values_list("kind", flat=True)))()
    assert {"position_adopted", "position_handed_over"} <= kinds
    await sync_to_async(set_desired)(second, "stopped")
    assert await finish(task) == "stopped"


async def test_a_position_nobody_was_asked_about_stops_the_bot_at_startup(
    simulator, funded_account
):
    account, _first, _left = await _leftover(simulator, funded_account)
    second = await sync_to_async(_new_bot)(account)
    # Started without the operator's answer (as a stale start check would): never silently.
    await sync_to_async(set_desired)(second, "running")

    (_runner,), (task,) = await start_runners([second])

    assert await finish(task) == "error"
    row = await sync_to_async(GridBot.objects.get)(pk=second.pk)
    assert "adopt or leave" in row.status_message
    assert sim_open_orders(simulator, funded_account.index, ETH) == []
