"""Controls the runner carries out itself: a bot's cancel-all request, the stop-loss exit (with
flattening), and the account's dead-man's switch kept armed while it runs."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from bots import services
from bots.models import BotEvent, ExchangeAccount, Fill, GridBot
from exchange.types import OrderSide
from tests.bots.runner_support import (
    CLOSE_TICKET_TIMEOUT_S,
    account_on,
    finish,
    full_eth_grid,
    grid_bot,
    seconds_between,
    set_desired,
    sim_open_orders,
    sim_position,
    start_runners,
    wait_full_grid,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url


def bot_row(bot: GridBot) -> GridBot:
    return GridBot.objects.get(pk=bot.pk)


async def full_grid(simulator, funded_account, **overrides):
    """A full ETH grid of five levels a side, running: (bot, runner, its task)."""
    _account, bot, runner, task = await full_eth_grid(
        simulator, funded_account, levels=5, **overrides
    )
    return bot, runner, task


async def exits_at(simulator, funded_account, bot, task, price: str, said: str) -> GridBot:
    """The price moves to `price`: the bot exits (its status says `said` first) with nothing of
    it left resting; returns its row."""
    simulator.sim("POST", "/sim/price", {"market_id": 0, "price": price})
    simulator.advance(1000)
    assert await finish(task) == "stopped"
    row = await sync_to_async(bot_row)(bot)
    assert row.status_message.startswith(said)
    assert sim_open_orders(simulator, funded_account.index, 0) == []
    return row


async def test_cancel_all_request_on_a_paused_bot_empties_the_book_and_clears_the_request(
    simulator, funded_account
):
    bot, _runner, task = await full_grid(simulator, funded_account)

    await sync_to_async(set_desired)(bot, "paused")
    await sync_to_async(
        lambda: GridBot.objects.filter(pk=bot.pk).update(cancel_all_requested_at=timezone.now())
    )()

    async def cancelled() -> bool:
        row = await sync_to_async(bot_row)(bot)
        return row.cancel_all_requested_at is None and row.status == "paused"

    await wait_until(cancelled, what="the cancel-all carried out")
    assert sim_open_orders(simulator, funded_account.index, 0) == []
    await sync_to_async(set_desired)(bot, "stopped")
    assert await finish(task) == "stopped"


async def test_stop_loss_cancels_the_grid_flattens_and_stops_the_bot(simulator, funded_account):
    bot, _runner, task = await full_grid(
        simulator, funded_account, stop_loss_price=Decimal("2980"), flatten_on_stop=True
    )

    row = await exits_at(simulator, funded_account, bot, task, "2975.00", "stop-loss hit: mark ")
    assert (row.status, row.desired_state) == ("stopped", "stopped")

    assert sim_position(simulator, funded_account.index, 0) == 0
    # The flatten's fill is the bot's (its books were long 0.04 and the account flat before).
    fills = await sync_to_async(lambda: list(Fill.objects.filter(bot=bot)))()
    assert sum((f.size_base if f.side == "buy" else -f.size_base for f in fills), Decimal(0)) == 0
    assert any(f.order_id is None and f.side == "sell" for f in fills)


async def test_a_stop_loss_fires_on_the_mark_while_the_books_deltas_have_stopped(
    simulator, funded_account
):
    """The market's book deltas stop while its marks still flow (the simulator's
    `stale_book`): the runner's mid stays where the book froze, above the stop-loss, while the
    mark falls through it. The exits judge the mark, as Lighter's own stop-loss orders do: the
    bot cancels, flattens and stops (before, it judged the frozen mid and kept its grid open
    on the way down, with no stop, for as long as the book stayed frozen)."""
    bot, _runner, task = await full_grid(
        simulator, funded_account, stop_loss_price=Decimal("2980"), flatten_on_stop=True
    )
    simulator.faults({"kind": "stale_book", "target": "order_book:0"})

    simulator.sim("POST", "/sim/price", {"market_id": 0, "price": "2975.00"})
    simulator.advance(1000)

    assert await finish(task, timeout_s=15.0) == "stopped"
    row = await sync_to_async(bot_row)(bot)
    said = re.fullmatch(r"stop-loss hit: mark 2975\.00 \(mid ([0-9.]+), .*", row.status_message)
    assert said is not None, row.status_message
    assert Decimal(said[1]) > Decimal("2980"), "the runner's book froze above the stop"
    # The stopped bot keeps the mark its exit judged, not one from before the move.
    assert row.last_price == Decimal("2975.00")
    assert sim_open_orders(simulator, funded_account.index, 0) == []
    assert sim_position(simulator, funded_account.index, 0) == 0


async def test_a_stop_loss_fires_on_the_mark_while_the_bid_side_is_empty(simulator, funded_account):
    """A sell sweeps every bid, the grid's own buys with them, and the grid's position cap
    keeps it from bidding again: the book has no mid, so nothing is planned. A stop-loss set
    now, above the mark, still fires (judged on the mark): before, a bot with no mid made no
    decision at all, and its stop-loss waited for the bids to come back."""
    _account, bot, runner, task = await full_eth_grid(
        simulator, funded_account, levels=3, max_position_notional=Decimal("100")
    )
    taker = await sync_to_async(account_on)(simulator, simulator.create_account())
    (index,) = await sync_to_async(taker.allocate_client_order_indexes)(1)
    async with taker.client() as client:
        ticket = await client.market_order(0, OrderSide.SELL, Decimal("9"), index)
        await client.resolve(ticket, 5.0, final=True)

    async def no_bids() -> bool:
        # Idle with nothing queued, its book without bids, its three sells resting.
        top = runner._feed.top if runner._feed is not None else None
        return (
            runner.idle
            and runner.events.empty()
            and top is not None
            and top.bid is None
            and len(sim_open_orders(simulator, funded_account.index, 0)) == 3
        )

    await wait_until(no_bids, what="the bids swept and the grid idle")
    assert runner.market_view() is None
    assert sim_position(simulator, funded_account.index, 0) > 0
    row = await sync_to_async(bot_row)(bot)
    await sync_to_async(services.bot_update)(row, actor="test", stop_loss_price=Decimal("3001"))

    assert await finish(task, timeout_s=15.0) == "stopped"
    row = await sync_to_async(bot_row)(bot)
    assert row.status_message.startswith("stop-loss hit: mark 3000"), row.status_message
    assert "mid none, bid None" in row.status_message
    assert sim_open_orders(simulator, funded_account.index, 0) == []


async def _grid_with_switch(simulator, funded_account, *, on: bool):
    """A full ETH grid running on an account whose dead-man's switch is `on` or off."""
    account = await sync_to_async(account_on)(simulator, funded_account)
    await sync_to_async(
        lambda: ExchangeAccount.objects.filter(pk=account.pk).update(dead_mans_switch=on)
    )()
    bot = await sync_to_async(grid_bot)(account, "ETH", levels=5)
    (runner,), (task,) = await start_runners([bot])
    await wait_full_grid(runner, simulator, funded_account.index, 10)
    return account, bot, task


def _cancel_all_time(simulator, account_index: int) -> int:
    return simulator.call(lambda: simulator.engine.state.accounts[account_index].cancel_all_time)


async def test_dead_mans_switch_is_armed_while_running_and_aborted_on_a_clean_stop(
    simulator, funded_account
):
    account, bot, task = await _grid_with_switch(simulator, funded_account, on=True)

    def cancel_all_time() -> int:
        return _cancel_all_time(simulator, funded_account.index)

    async def armed() -> bool:
        return cancel_all_time() > 0

    await wait_until(armed, what="the scheduled cancel-all")
    row = await sync_to_async(ExchangeAccount.objects.get)(pk=account.pk)
    assert row.dead_mans_switch_armed_until is not None

    await sync_to_async(set_desired)(bot, "stopped")
    assert await finish(task) == "stopped"
    assert cancel_all_time() == 0


async def test_a_stop_from_the_services_is_pushed_to_the_live_runner(simulator, funded_account):
    bot, runner, task = await full_grid(simulator, funded_account)

    row = await sync_to_async(bot_row)(bot)
    await sync_to_async(services.bot_stop)(row, actor="test")

    assert await finish(task) == "stopped"
    assert runner.last_command > 0, "applied by the push, not by the fallback read"
    assert sim_open_orders(simulator, funded_account.index, 0) == []


async def test_a_stop_loss_set_while_the_bot_runs_protects_it_at_once(simulator, funded_account):
    """A trader sets a stop-loss on a running grid (the API's and the admin's save): the runner
    is told at the commit and the next price through it stops the bot and flattens."""
    bot, runner, task = await full_grid(simulator, funded_account, flatten_on_stop=True)

    row = await sync_to_async(bot_row)(bot)
    await sync_to_async(services.bot_update)(row, actor="test", stop_loss_price=Decimal("2980"))

    async def applied() -> bool:
        return runner.strategy.config.stop_loss_price == Decimal("2980")

    await wait_until(applied, timeout_s=2.0, what="the new stop-loss in the runner")
    assert runner.last_command > 0, "applied by the push, not by the fallback read"
    row = await exits_at(simulator, funded_account, bot, task, "2975.00", "stop-loss hit: mark ")
    events = await sync_to_async(lambda: list(row.events.values_list("kind", "message")))()
    assert ("settings_changed", "now applied: stop loss price none → 2980") in events


async def test_a_take_profit_written_without_a_push_is_read_by_the_fallback(
    simulator, funded_account
):
    """A change whose push was lost (Redis blip, a row written around the services) reaches
    the runner with its slow read of the desired state."""
    bot, _runner, task = await full_grid(simulator, funded_account)

    await sync_to_async(
        lambda: GridBot.objects.filter(pk=bot.pk).update(take_profit_price=Decimal("3020"))
    )()
    await exits_at(simulator, funded_account, bot, task, "3025.00", "take-profit hit: mark ")


async def test_a_paused_grid_still_exits_at_its_stop_loss(simulator, funded_account):
    """Pause keeps the resting orders and places nothing new; it does not switch the exits
    off: a price through the stop-loss of a paused grid cancels its orders, flattens and stops
    it (before, the paused grid's buys kept filling on the way down with no stop)."""
    bot, runner, task = await full_grid(
        simulator, funded_account, stop_loss_price=Decimal("2980"), flatten_on_stop=True
    )
    await sync_to_async(services.bot_pause)(await sync_to_async(bot_row)(bot), actor="test")

    async def paused() -> bool:
        return runner.paused

    await wait_until(paused, what="the pause applied")
    await exits_at(simulator, funded_account, bot, task, "2975.00", "stop-loss hit: mark ")

    assert sim_position(simulator, funded_account.index, 0) == 0


async def test_the_dead_mans_switch_turned_on_or_off_while_bots_run_applies_at_once(
    simulator, funded_account
):
    """The switch is the account's, changed in its admin form while its bots run: turned on,
    the runners arm it at once (before, only a restart did, and the page said 'on (not
    armed)'); turned off, the schedule they armed is aborted (before, they kept re-arming
    it: a dead worker would still have cancelled the orders the operator chose to keep)."""
    account, bot, task = await _grid_with_switch(simulator, funded_account, on=False)

    def cancel_all_time() -> int:
        return _cancel_all_time(simulator, funded_account.index)

    def switch(on: bool) -> None:  # as the account's admin form saves it
        with transaction.atomic():
            row = ExchangeAccount.objects.get(pk=account.pk)
            row.dead_mans_switch = on
            row.save(update_fields=["dead_mans_switch"])
            services.account_settings_saved(row)

    assert cancel_all_time() == 0
    await sync_to_async(switch)(True)

    async def armed() -> bool:
        return cancel_all_time() > 0

    await wait_until(armed, timeout_s=5.0, what="the switch armed")
    await sync_to_async(switch)(False)

    async def aborted() -> bool:
        return cancel_all_time() == 0

    await wait_until(aborted, timeout_s=5.0, what="the switch aborted")
    row = await sync_to_async(ExchangeAccount.objects.get)(pk=account.pk)
    assert row.dead_mans_switch_armed_until is None
    assert not task.done()
    await sync_to_async(set_desired)(bot, "stopped")
    assert await finish(task) == "stopped"


async def test_a_stop_loss_flatten_closes_the_bots_own_position_and_leaves_the_traders(
    simulator, funded_account
):
    """The trader holds 0.1 ETH of their own on the account (left unattributed at the grid's
    start). The grid's stop-loss flatten closed the account's whole position: the trader's
    0.1 was sold with the grid's buys. It closes the grid's own part only."""
    account = await sync_to_async(account_on)(simulator, funded_account)
    (index,) = await sync_to_async(account.allocate_client_order_indexes)(1)
    async with account.client() as client:
        ticket = await client.market_order(0, OrderSide.BUY, Decimal("0.1"), index)
        await client.resolve(ticket, 5.0, final=True)
    traders = sim_position(simulator, funded_account.index, 0)
    assert traders > 0
    bot = await sync_to_async(grid_bot)(
        account,
        "ETH",
        levels=5,
        stop_loss_price=Decimal("2980"),
        flatten_on_stop=True,
        unattributed_choice="leave",
        unattributed_choice_base=Decimal("0.1"),
    )
    (runner,), (task,) = await start_runners([bot])
    await wait_full_grid(runner, simulator, funded_account.index, 10)

    simulator.sim("POST", "/sim/price", {"market_id": 0, "price": "2975.00"})
    simulator.advance(1000)

    assert await finish(task) == "stopped"
    fills = await sync_to_async(lambda: list(Fill.objects.filter(bot=bot)))()
    bought = [f for f in fills if f.side == "buy"]
    assert bought, "the grid bought on the way down"
    assert sum((f.size_base if f.side == "buy" else -f.size_base for f in fills), Decimal(0)) == 0
    assert sim_position(simulator, funded_account.index, 0) == traders
    events = await sync_to_async(
        lambda: list(BotEvent.objects.filter(bot=bot, kind="flatten").values_list("message"))
    )()
    assert events and events[0][0].startswith("position close: closed ("), events
    # The close's end came from the stream as it arrived (tests/bots/test_hedge_runner.py).
    assert await seconds_between(bot, "risk_exit", "flatten") < CLOSE_TICKET_TIMEOUT_S
