"""The runner and the request budget's lanes: with routine traffic filling its lane, an operator
stop still goes through at once (its reserved share), and the placement the runner was waiting to
send when the stop arrived is never sent."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from bots import services
from bots.engine.leases import BotLease
from bots.engine.runner import BUDGET_WAIT_MESSAGE
from bots.models import BotEvent, GridBot, Order
from exchange.budget import _keys, budget_name
from tests.bots.runner_support import (
    account_on,
    full_eth_grid,
    grid_bot,
    routine_lane_fill,
    sim_open_orders,
    sim_position,
    start_runners,
    wait_full_grid,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)
ETH = 0


def _venue_orders(simulator, account_index: int) -> set[int]:
    def read() -> set[int]:
        orders = simulator.engine.state.all_orders.values()
        return {o.order_index for o in orders if o.owner_account_index == account_index}

    return simulator.call(read)


async def _replenish_waits(runner, simulator) -> None:
    """The grid moves up a level: the runner's replenish waits for the routine budget."""
    budget = runner.client.http.budget
    assert budget is not None
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "3007.00"})
    simulator.advance(1000)

    async def waiting() -> bool:
        return budget.waits > 0

    await wait_until(waiting, what="the runner's replenish waiting for budget")


async def test_a_stop_while_routine_traffic_fills_the_budget_is_applied_and_nothing_placed(
    simulator, funded_account, redis_client, redis_url
):
    index = funded_account.index
    account = await sync_to_async(account_on)(simulator, funded_account, tier="standard")
    bot = await sync_to_async(grid_bot)(account, "ETH", levels=3)
    (runner,), (task,) = await start_runners([bot])
    assert BotLease(redis_client, bot.pk).acquire() is not None  # the runner is alive

    await wait_full_grid(runner, simulator, index, 6)
    # Routine traffic (other bots, refreshes) fills the routine lane for the next minute.
    aredis = await routine_lane_fill(redis_url, account)
    await _replenish_waits(runner, simulator)
    before = _venue_orders(simulator, index)

    row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
    await sync_to_async(services.bot_stop)(row, actor="test")

    # The routine lane is still full: the stop's cancels and read-backs use the operator's share.
    assert await asyncio.wait_for(task, 30) == "stopped"
    assert _venue_orders(simulator, index) - before == set()
    assert sim_open_orders(simulator, index, ETH) == []
    await aredis.aclose()


async def test_a_stop_loss_while_routine_traffic_fills_the_budget_exits_at_once(
    simulator, funded_account, redis_url
):
    # A stop-loss's cancels (and flatten) drew from the routine lane: right after three grids
    # started on the paper stack, the lane was full and the exit waited 24 s while the price
    # moved on (a fill landed meanwhile). A protective exit is the operator's: its lane.
    index = funded_account.index
    account, bot, _runner, task = await full_eth_grid(
        simulator,
        funded_account,
        tier="standard",
        stop_loss_price=Decimal("2980"),
        flatten_on_stop=True,
    )
    aredis = await routine_lane_fill(redis_url, account)

    # Through the grid's buys and the stop: the routine lane stays full for its minute.
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "2975.00"})
    simulator.advance(1000)

    assert await asyncio.wait_for(task, 30) == "stopped"
    row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
    assert row.status_message.startswith("stop-loss hit: mark ")
    assert sim_open_orders(simulator, index, ETH) == []

    assert sim_position(simulator, index, ETH) == 0, "flattened"
    await aredis.aclose()


async def test_a_rename_while_a_placement_waits_for_budget_does_not_drop_it(
    simulator, funded_account, redis_url
):
    # A configuration change now reaches the runner as a command: it must not count as the
    # operator's desired state, which drops what was planned before it (a rename, or a
    # stop-loss far from the price, left the grid a level short until the next price move).
    index = funded_account.index
    account, bot, runner, task = await full_eth_grid(simulator, funded_account, tier="standard")
    aredis = await routine_lane_fill(redis_url, account)
    await _replenish_waits(runner, simulator)
    row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
    await sync_to_async(services.bot_update)(row, actor="test", name="eth-renamed")
    await asyncio.sleep(0.5)  # the command arrives while the placement waits
    await aredis.delete(*_keys(budget_name(account.l1_address, index)))

    await wait_full_grid(runner, simulator, index, 6)
    dropped = await sync_to_async(
        lambda: list(Order.objects.filter(bot=bot, reason__contains="placement not sent"))
    )()
    assert dropped == [], [o.reason for o in dropped]  # planned, sent, never dropped
    assert not task.done()
    task.cancel()
    await aredis.aclose()


async def test_a_start_waiting_for_the_budget_says_so_on_the_bot_until_it_runs(
    simulator, funded_account, redis_url
):
    # Trader's report: three grids on a fresh standard account showed "starting" for about a
    # minute with nothing saying why (their start-up reads waited for the request budget).
    index = funded_account.index
    account = await sync_to_async(account_on)(simulator, funded_account, tier="standard")
    bot = await sync_to_async(grid_bot)(account, "ETH", levels=3)
    # As the operator's start leaves it (`services.bot_start`).
    await sync_to_async(GridBot.objects.filter(pk=bot.pk).update)(status="starting")
    aredis = await routine_lane_fill(redis_url, account)
    _, (task,) = await start_runners([bot])

    async def said() -> bool:
        row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
        return row.status == "starting" and row.status_message == BUDGET_WAIT_MESSAGE

    await wait_until(said, what="the bot saying it waits for the request budget")
    # The budget frees up (as when its minute has passed): the bot runs and the message goes.
    await aredis.delete(*_keys(budget_name(account.l1_address, index)))

    async def running() -> bool:
        row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
        return row.status == "running" and row.status_message == ""

    await wait_until(running, timeout_s=30, what="the bot running, its message gone")
    task.cancel()
    await aredis.aclose()


async def test_a_grid_start_reconciles_once(simulator, funded_account):
    # The reconcile a start makes is the start's; the periodic one comes a reconcile interval
    # later. The first turn used to make another at once: three more requests (the orders, the
    # trades, the positions) of a standard account's 60 a minute for every grid started, which
    # three grids starting together could not afford (the third waited most of a minute).
    _account, _bot, runner, task = await full_eth_grid(simulator, funded_account, tier="standard")
    await asyncio.sleep(1.5)  # three turns of the loop more (a tick every 0.5 s)
    # The market's details, the account's settings, one reconcile (orders, trades, positions),
    # the leverage, the next nonce and the grid's batch: eight (eleven with the second reconcile).
    assert runner.client.http.requests_sent <= 8
    task.cancel()


async def test_a_stop_while_a_restart_waits_for_the_budget_ends_it_and_cancels_what_rests(
    simulator, funded_account, redis_url
):
    # Found on the paper stack: after an emergency stop, a bot still starting (its start-up
    # waiting for the routine budget) applied its settings and reconciled before it saw the
    # stop, and showed "starting" for up to a minute. Here a restart (the orders of the run
    # before still rest) waits for a routine lane that stays full: the operator's stop ends it
    # at once, through the operator's share, with the orders left from before cancelled.
    index = funded_account.index
    account, bot, _first, task = await full_eth_grid(simulator, funded_account, tier="standard")
    task.cancel()  # the worker died: its orders rest
    await asyncio.gather(task, return_exceptions=True)
    aredis = await routine_lane_fill(redis_url, account)
    await sync_to_async(
        GridBot.objects.filter(pk=bot.pk).update
    )(status="starting", lease_fence=2)  # fmt: skip
    seen = await sync_to_async(lambda: BotEvent.objects.filter(bot=bot).count())()
    (second,), (task,) = await start_runners([bot], fence=2)

    async def waiting() -> bool:
        row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
        return row.status_message == BUDGET_WAIT_MESSAGE

    await wait_until(waiting, what="the restart waiting for the request budget")
    row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
    await sync_to_async(services.bot_stop)(row, actor="test")

    # The routine lane is still full (its minute has not passed): before, the start waited for
    # it and this timed out.
    assert await asyncio.wait_for(task, 20) == "stopped"
    assert sim_open_orders(simulator, index, ETH) == []
    row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
    assert row.status == "stopped"
    kinds = await sync_to_async(
        lambda: {e.kind for e in BotEvent.objects.filter(bot=bot).order_by("pk")[seen:]}
    )()
    assert "stopped" in kinds and "settings_applied" not in kinds
    assert second.sends == 1  # the cancel of the six orders, nothing placed
    await aredis.aclose()
