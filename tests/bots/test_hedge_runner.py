"""The hedge runner against the in-process simulator with two funded accounts (real SDK, real
Redis, real DB): A's maker fills are hedged on B and a full cycle leaves both accounts flat."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from bots import services
from bots.engine.leases import BotLease
from bots.engine.runner import BotRunner, run_runner, runner_create
from bots.models import BotEvent, Fill, HedgeBot, Order
from exchange.redis_clients import redis_client
from tests.bots.hedge_support import (
    ETH,
    fill_resting,
    hedge_bot,
    resting_price,
    sell_into_batched,
    sim_collateral,
    sim_position,
    trade_against,
    wait_positions,
)
from tests.bots.runner_support import (
    CLOSE_TICKET_TIMEOUT_S,
    account_on,
    finish,
    seconds_between,
    sim_open_orders,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)

TX_CREATE_ORDER = 14


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url


@pytest.fixture
def pair(simulator):
    maker_sim, taker_sim = simulator.create_account(), simulator.create_account()
    maker, taker = account_on(simulator, maker_sim), account_on(simulator, taker_sim)
    return maker_sim, taker_sim, maker, taker


async def start(bot: HedgeBot) -> tuple[BotRunner, asyncio.Task[str]]:
    """The bot's runner as a task on the test's loop (the worker's top-level handling)."""
    runner = await runner_create(bot.pk, fence=1)
    return runner, asyncio.create_task(run_runner(runner))


async def start_resting(
    simulator, maker_index: int, bot: HedgeBot
) -> tuple[BotRunner, asyncio.Task[str]]:
    """`start`, then wait until A's opening order rests."""
    runner, task = await start(bot)
    await wait_until(
        lambda: _async(len(sim_open_orders(simulator, maker_index, ETH)) == 1),
        what="A's opening order",
    )
    return runner, task


async def start_inside_the_spread(
    simulator, pair, **overrides: object
) -> tuple[HedgeBot, BotRunner, asyncio.Task[str], Decimal]:
    """A 0.03 hedge bot whose A order rests inside the spread (alone at its price, so a
    counterparty fills it first), started; returns it, its runner and task, and A's price."""
    maker_sim, _, maker, taker = pair
    bot = await sync_to_async(hedge_bot)(
        maker, taker, size=Decimal("0.03"), hold_min_ms=60_000,
        price_mode="offset_bps", offset_bps=Decimal("-1"), **overrides,
    )  # fmt: skip
    runner, task = await start_resting(simulator, maker_sim.index, bot)
    return bot, runner, task, resting_price(simulator, maker_sim.index)


async def test_a_full_cycle_leaves_both_accounts_flat(simulator, pair):
    maker_sim, taker_sim, maker, taker = pair
    bot = await sync_to_async(hedge_bot)(maker, taker)
    runner, task = await start(bot)

    await wait_until(
        lambda: _async(len(sim_open_orders(simulator, maker_sim.index, ETH)) == 1),
        what="A's opening order",
    )
    await fill_resting(simulator, maker_sim.index)
    await wait_until(
        lambda: _async(sim_position(simulator, taker_sim.index) == Decimal("-0.01")),
        what=lambda: (
            f"B hedged: A {sim_position(simulator, maker_sim.index)}, "
            f"B {sim_position(simulator, taker_sim.index)}, "
            f"state {runner.strategy.snapshot().state}"
        ),
    )
    await wait_until(
        lambda: _async(len(sim_open_orders(simulator, maker_sim.index, ETH)) == 1),
        what="A's closing order",
    )
    await fill_resting(simulator, maker_sim.index)

    assert await finish(task) == "stopped"
    assert sim_position(simulator, maker_sim.index) == 0
    assert sim_position(simulator, taker_sim.index) == 0
    fills = await sync_to_async(lambda: list(Fill.objects.filter(bot=bot)))()
    assert {f.account_id for f in fills} == {maker.pk, taker.pk}


async def _async(value: bool) -> bool:
    return value


async def _snapshot_kept(bot: HedgeBot) -> bool:
    kept = HedgeBot.objects.filter(pk=bot.pk).values_list("strategy_snapshot", flat=True)
    return bool(await sync_to_async(kept.first)())


async def _event_recorded(bot: HedgeBot, kind: str) -> bool:
    return await sync_to_async(BotEvent.objects.filter(bot=bot, kind=kind).exists)()


def pair_pnl_from_fills(bot: HedgeBot) -> Decimal:
    """The pair's realized PnL from our Fill rows of both legs: cash in minus cash out, fees."""
    total = Decimal(0)
    for fill in Fill.objects.filter(bot=bot):
        cash = fill.price * fill.size_base
        total += (cash if fill.side == "sell" else -cash) - fill.fee
    return total


async def test_the_pairs_pnl_from_its_fills_equals_the_simulators_two_accounts(simulator, pair):
    maker_sim, taker_sim, maker, taker = pair
    before = sim_collateral(simulator, maker_sim.index) + sim_collateral(simulator, taker_sim.index)
    bot = await sync_to_async(hedge_bot)(maker, taker)
    _, task = await start(bot)

    for _ in range(2):  # open, then close
        await wait_until(
            lambda: _async(len(sim_open_orders(simulator, maker_sim.index, ETH)) == 1),
            what="A's order",
        )
        await fill_resting(simulator, maker_sim.index)
    assert await finish(task) == "stopped"

    after = sim_collateral(simulator, maker_sim.index) + sim_collateral(simulator, taker_sim.index)
    assert await sync_to_async(pair_pnl_from_fills)(bot) == after - before
    assert after != before  # the pair did trade at different prices


async def test_partial_fills_of_a_are_hedged_piece_by_piece(simulator, pair):
    maker_sim, taker_sim, maker, taker = pair
    other = await sync_to_async(account_on)(simulator, simulator.create_account())
    # Inside the spread, so A's order is alone at its price: the counterparty fills it first.
    bot, runner, task, price = await start_inside_the_spread(simulator, pair)

    await trade_against(simulator, other, "sell", "0.01", price)
    await wait_positions(simulator, runner, maker_sim.index, taker_sim.index, "0.01", "-0.01")
    # What rested of A's order was cancelled before B's hedge; the rest is placed again.
    await wait_until(
        lambda: _async(len(sim_open_orders(simulator, maker_sim.index, ETH)) == 1),
        what="A's order for the rest",
    )
    await trade_against(simulator, other, "sell", "0.01", resting_price(simulator, maker_sim.index))
    await wait_positions(simulator, runner, maker_sim.index, taker_sim.index, "0.02", "-0.02")
    await wait_until(
        lambda: _async(len(sim_open_orders(simulator, maker_sim.index, ETH)) == 1),
        what="A's order for the last piece",
    )
    await trade_against(simulator, other, "sell", "0.01", resting_price(simulator, maker_sim.index))

    # Each piece of A is hedged by exactly its size.
    await wait_until(
        lambda: _async(runner.strategy.snapshot().state.value == "holding"),
        what=lambda: f"holding; is {runner.strategy.snapshot().state}",
    )
    a, b = sim_position(simulator, maker_sim.index), sim_position(simulator, taker_sim.index)
    assert a == -b == Decimal("0.03")

    def sizes(account) -> list[Decimal]:
        rows = Fill.objects.filter(bot=bot, account=account).order_by("executed_at", "trade_id")
        return list(rows.values_list("size_base", flat=True))

    pieces_a = await sync_to_async(sizes)(maker)
    pieces_b = await sync_to_async(sizes)(taker)
    assert pieces_a == [Decimal("0.01")] * 3
    assert pieces_b == pieces_a
    await sync_to_async(HedgeBot.objects.filter(pk=bot.pk).update)(desired_state="stopped")
    assert await finish(task) == "stopped"


def sim_creates(simulator, account_index: int) -> int:
    """How many orders the account has sent (create transactions), from the simulator."""
    txs = simulator.call(lambda: simulator.engine.account_txs(account_index, 1000))
    return sum(1 for r in txs if r.type == TX_CREATE_ORDER)


async def test_an_order_of_a_reported_filled_before_its_fill_is_not_placed_again(simulator, pair):
    # The exchange's order report ("filled") often comes a burst before the fill report: the
    # order is gone from A's working orders while its fill is not told yet. Nothing more may
    # go out on A then (it would open twice, ahead of B). Three cycles: six orders filled in
    # full by a counterparty, each of them one create on A.
    maker_sim, taker_sim, maker, taker = pair
    other = await sync_to_async(account_on)(simulator, simulator.create_account())
    bot = await sync_to_async(hedge_bot)(
        maker, taker, cycles=3, hold_min_ms=0, price_mode="offset_bps", offset_bps=Decimal("-1")
    )
    runner, task = await start(bot)
    for half in range(6):
        await wait_until(
            lambda: _async(len(sim_open_orders(simulator, maker_sim.index, ETH)) == 1),
            what=f"A's order {half + 1}",
        )
        (order,) = sim_open_orders(simulator, maker_sim.index, ETH)
        price = resting_price(simulator, maker_sim.index)
        await trade_against(simulator, other, "buy" if order.is_ask else "sell", "0.01", price)
        held = "0.01" if half % 2 == 0 else "0"
        await wait_positions(simulator, runner, maker_sim.index, taker_sim.index, held, f"-{held}")

    assert await finish(task) == "stopped"
    assert sim_creates(simulator, maker_sim.index) == 6
    assert sim_position(simulator, maker_sim.index) == sim_position(simulator, taker_sim.index) == 0


@pytest.mark.parametrize("fault", ["tx_never_executed", "http_429", "http_5xx"])
async def test_a_hedge_hit_by_a_fault_is_completed(simulator, pair, fault):
    maker_sim, taker_sim, maker, taker = pair
    bot = await sync_to_async(hedge_bot)(maker, taker, hold_min_ms=60_000, hedge_timeout_ms=300)
    runner, task = await start_resting(simulator, maker_sim.index, bot)
    # B's hedge is the next single tx: it answers 200 and never reaches the engine, or is
    # refused with a 429 or a 503.
    simulator.faults({"kind": fault, "target": "sendTx", "count": 1})

    await fill_resting(simulator, maker_sim.index)

    await wait_positions(simulator, runner, maker_sim.index, taker_sim.index, "0.01", "-0.01")
    if fault == "tx_never_executed":  # the 200 was not taken for done: the hedge went again
        await wait_until(lambda: _event_recorded(bot, "hedge_retry"), what="a hedge_retry event")
    await sync_to_async(HedgeBot.objects.filter(pk=bot.pk).update)(desired_state="stopped")
    assert await finish(task) == "stopped"


async def test_an_imbalance_made_by_hand_on_b_is_repaired(simulator, pair):
    maker_sim, taker_sim, maker, taker = pair
    bot = await sync_to_async(hedge_bot)(
        maker, taker, hold_min_ms=60_000, imbalance_tolerance_base=Decimal("0.005")
    )
    runner, task = await start_resting(simulator, maker_sim.index, bot)
    await fill_resting(simulator, maker_sim.index)
    await wait_positions(simulator, runner, maker_sim.index, taker_sim.index, "0.01", "-0.01")

    # The operator sells 0.02 more on B by hand: the pair is 0.02 short.
    ask = simulator.call(lambda: simulator.engine.state.markets[ETH].units.price(
        simulator.engine.state.books[ETH].side(is_ask=False).best_price()))  # fmt: skip
    await trade_against(simulator, taker, "sell", "0.02", ask - Decimal("50"))
    assert sim_position(simulator, taker_sim.index) == Decimal("-0.03")

    await wait_positions(simulator, runner, maker_sim.index, taker_sim.index, "0.01", "-0.01")
    # The transitions are written after the burst that sent the repair.
    await wait_until(lambda: _event_recorded(bot, "imbalance"), what="an imbalance event")
    await sync_to_async(HedgeBot.objects.filter(pk=bot.pk).update)(desired_state="stopped")
    assert await finish(task) == "stopped"


async def test_a_fill_whose_report_was_dropped_with_the_socket_is_hedged(simulator, pair):
    maker_sim, taker_sim, maker, taker = pair
    bot = await sync_to_async(hedge_bot)(maker, taker, hold_min_ms=60_000)
    runner, task = await start_resting(simulator, maker_sim.index, bot)
    # The account frame carrying A's fill closes the socket instead of arriving.
    simulator.faults({"kind": "ws_drop", "target": "account_all", "count": 1})

    await fill_resting(simulator, maker_sim.index)

    await wait_positions(simulator, runner, maker_sim.index, taker_sim.index, "0.01", "-0.01")
    await sync_to_async(HedgeBot.objects.filter(pk=bot.pk).update)(desired_state="stopped")
    assert await finish(task) == "stopped"


async def test_a_runner_gone_between_as_fill_and_bs_hedge_hedges_on_restart(simulator, pair):
    maker_sim, taker_sim, maker, taker = pair
    bot = await sync_to_async(hedge_bot)(maker, taker, hold_min_ms=60_000)
    _, task = await start_resting(simulator, maker_sim.index, bot)
    await wait_until(lambda: _snapshot_kept(bot), what="a snapshot on the bot")
    task.cancel()  # the worker is gone: nothing hedges A's fill
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await fill_resting(simulator, maker_sim.index)
    assert (sim_position(simulator, maker_sim.index), sim_position(simulator, taker_sim.index)) == (
        Decimal("0.01"),
        Decimal("0"),
    )

    runner, task = await start(bot)

    await wait_positions(simulator, runner, maker_sim.index, taker_sim.index, "0.01", "-0.01")
    assert runner.strategy.snapshot().repairs == 0  # hedged, not repaired
    await sync_to_async(HedgeBot.objects.filter(pk=bot.pk).update)(desired_state="stopped")
    assert await finish(task) == "stopped"


def sim_trades_between(simulator, first: int, second: int) -> list:
    """The simulator's trades in which these two accounts traded with each other."""
    pair_ids = {first, second}
    return simulator.call(
        lambda: [
            t
            for t in simulator.engine.state.history.trades
            if {t.ask_account_id, t.bid_account_id} == pair_ids
        ]
    )


async def test_bs_hedge_never_trades_with_what_rests_of_as_own_order(simulator, pair):
    maker_sim, taker_sim, _, _ = pair
    other = await sync_to_async(account_on)(simulator, simulator.create_account())
    # Inside the spread, so A's order is alone at the best bid: B's sell hedge, whose worst
    # price is below it, would take what rests of A's order first.
    bot, runner, task, price = await start_inside_the_spread(simulator, pair)

    await trade_against(simulator, other, "sell", "0.01", price)  # A is partly filled

    await wait_until(
        lambda: _async(
            sim_position(simulator, taker_sim.index) <= Decimal("-0.01")
            and runner.strategy.snapshot().state.value in ("opening", "holding")
        ),
        what=lambda: f"B hedged; state {runner.strategy.snapshot().state}",
    )
    assert sim_trades_between(simulator, maker_sim.index, taker_sim.index) == []
    assert sim_position(simulator, maker_sim.index) == -sim_position(simulator, taker_sim.index)
    # The rest of A's opening goes out again once B has caught up, and B hedges it as well.
    await wait_until(
        lambda: _async(len(sim_open_orders(simulator, maker_sim.index, ETH)) == 1),
        what="A's order for the rest",
    )
    await trade_against(simulator, other, "sell", "0.02", resting_price(simulator, maker_sim.index))
    await wait_positions(simulator, runner, maker_sim.index, taker_sim.index, "0.03", "-0.03")
    assert sim_trades_between(simulator, maker_sim.index, taker_sim.index) == []
    assert await _event_recorded(bot, "self_trade_guard")
    await sync_to_async(HedgeBot.objects.filter(pk=bot.pk).update)(desired_state="stopped")
    assert await finish(task) == "stopped"


async def test_a_self_trade_guard_cancel_that_never_executed_is_sent_again_soon(simulator, pair):
    """The guard's cancel of A's rest answers 200 and never executes: the hedge must not wait
    for the order timeout (a minute here) with the pair unhedged. After CANCEL_CONFIRM_S the
    runner asks REST, finds the order still resting, and cancels it again."""
    maker_sim, taker_sim, _, _ = pair
    other = await sync_to_async(account_on)(simulator, simulator.create_account())
    bot, runner, task, price = await start_inside_the_spread(
        simulator, pair, order_timeout_ms=60_000
    )
    # The next single tx after A's partial fill is the guard's cancel of A's rest.
    simulator.faults({"kind": "tx_never_executed", "target": "sendTx", "count": 1})

    await sell_into_batched(simulator, other, Decimal("0.01"), price)

    await wait_until(
        lambda: _async(sim_position(simulator, taker_sim.index) <= Decimal("-0.01")),
        timeout_s=15,
        what=lambda: f"B hedged; state {runner.strategy.snapshot().state}",
    )
    assert await _event_recorded(bot, "cancel_unconfirmed")
    assert sim_trades_between(simulator, maker_sim.index, taker_sim.index) == []
    await sync_to_async(HedgeBot.objects.filter(pk=bot.pk).update)(desired_state="stopped")
    assert await finish(task) == "stopped"


async def test_a_fill_whose_report_was_lost_without_a_reconnect_is_hedged_on_reconcile(
    simulator, pair, settings, caplog
):
    settings.HEDGE_RECONCILE_SECONDS = 1.0
    maker_sim, taker_sim, maker, taker = pair
    bot = await sync_to_async(hedge_bot)(maker, taker, hold_min_ms=60_000)
    runner, task = await start_resting(simulator, maker_sim.index, bot)
    await asyncio.sleep(0.3)  # the frame reporting A's order open has gone out
    # The account frame carrying A's fill is lost; the socket stays up (no reconnect).
    simulator.faults({"kind": "ws_lose", "target": "account_all", "count": 1})

    await fill_resting(simulator, maker_sim.index)

    await wait_positions(simulator, runner, maker_sim.index, taker_sim.index, "0.01", "-0.01")
    lost = [r for r in caplog.records if r.name == "exchange.streams" and " lost " in r.message]
    assert lost == []  # no reconnect: the REST reconcile found the fill
    # (the transitions are written with the runner's next record, just after B's hedge went out)
    await wait_until(lambda: _event_recorded(bot, "hedge_due"), what="a hedge_due event")
    assert runner.strategy.snapshot().repairs == 0  # hedged, not repaired
    await sync_to_async(HedgeBot.objects.filter(pk=bot.pk).update)(desired_state="stopped")
    assert await finish(task) == "stopped"


async def leverage_read(account) -> tuple[Decimal, str]:
    async with account.client() as client:
        info = await client.account()
    (row,) = [p for p in info.positions if p.market_id == ETH]
    return row.leverage, row.margin_mode.value


async def test_each_legs_leverage_and_margin_mode_are_applied_and_read_back_at_start(
    simulator, pair
):
    maker_sim, _, maker, taker = pair
    bot = await sync_to_async(hedge_bot)(
        maker, taker, hold_min_ms=60_000, leverage_a=Decimal("3"), margin_mode_a="isolated",
        leverage_b=Decimal("4"), margin_mode_b="cross",
    )  # fmt: skip
    _, task = await start_resting(simulator, maker_sim.index, bot)
    assert await leverage_read(maker) == (Decimal("3"), "isolated")
    assert await leverage_read(taker) == (Decimal("4"), "cross")
    applied = await sync_to_async(
        lambda: list(BotEvent.objects.filter(bot=bot, kind="settings_applied").order_by("id"))
    )()
    assert [e.data["leg"] for e in applied] == ["A", "B"]
    await sync_to_async(HedgeBot.objects.filter(pk=bot.pk).update)(desired_state="stopped")
    assert await finish(task) == "stopped"


async def test_a_refused_margin_mode_puts_the_bot_in_error_and_sends_no_order(simulator, pair):
    maker_sim, taker_sim, maker, taker = pair
    # B holds a cross position on ETH: the exchange refuses to switch it to isolated (21132).
    bid = simulator.call(lambda: simulator.engine.state.markets[ETH].units.price(
        simulator.engine.state.books[ETH].side(is_ask=False).best_price()))  # fmt: skip
    await trade_against(simulator, taker, "sell", "0.01", bid - Decimal("50"))
    assert sim_position(simulator, taker_sim.index) == Decimal("-0.01")
    bot = await sync_to_async(hedge_bot)(maker, taker, margin_mode_b="isolated")
    _, task = await start(bot)

    assert await finish(task) == "error"
    refused = await sync_to_async(
        lambda: BotEvent.objects.filter(bot=bot, kind="settings_refused").get()
    )()
    assert refused.level == "error" and "leg B" in refused.message
    assert "isolated" in refused.message
    assert sim_open_orders(simulator, maker_sim.index, ETH) == []
    assert await sync_to_async(lambda: Order.objects.filter(bot=bot).exists())() is False
    status = await sync_to_async(
        lambda: HedgeBot.objects.values_list("status", "status_message").get(pk=bot.pk)
    )()
    assert status[0] == "error" and "leg B" in status[1]
    assert sim_position(simulator, taker_sim.index) == Decimal("-0.01")  # nothing traded


async def _event_kinds(bot: HedgeBot) -> list[str]:
    rows = BotEvent.objects.filter(bot=bot).order_by("id").values_list("kind", flat=True)
    return await sync_to_async(lambda: list(rows))()


async def opened_and_hedged(simulator, pair, bot) -> tuple[BotRunner, asyncio.Task[str]]:
    maker_sim, taker_sim, _, _ = pair
    runner, task = await start_resting(simulator, maker_sim.index, bot)
    await fill_resting(simulator, maker_sim.index)
    await wait_positions(simulator, runner, maker_sim.index, taker_sim.index, "0.01", "-0.01")
    return runner, task


async def test_stop_with_close_both_legs_closes_them_through_the_runner(simulator, pair, redis_url):
    maker_sim, taker_sim, maker, taker = pair
    # The hold time is long: the pair stays open until the operator's stop.
    bot = await sync_to_async(hedge_bot)(maker, taker, hold_min_ms=60_000)
    _, task = await opened_and_hedged(simulator, pair, bot)
    # The runner holds the lease, as in a worker: the service leaves the closing to it.
    lease = BotLease(redis_client(redis_url), bot.pk)
    assert await asyncio.to_thread(lease.acquire) is not None
    try:
        await sync_to_async(services.hedge_bot_stop_close)(bot, actor="op", confirm=True)
        assert await finish(task) == "stopped"
    finally:
        await asyncio.to_thread(lease.release)

    assert sim_position(simulator, maker_sim.index) == 0
    assert sim_position(simulator, taker_sim.index) == 0
    assert sim_open_orders(simulator, maker_sim.index, ETH) == []
    kinds = await _event_kinds(bot)
    tail = kinds[kinds.index("stop_close") :]
    assert [k for k in tail if k in ("close_started", "close_leg", "legs_closed", "stopped")] == [
        "close_started", "close_leg", "close_leg", "legs_closed", "stopped"]  # fmt: skip
    # The closes' fills are the bot's too: its fills on each account net to the account's flat
    # position (A bought and sold 0.01, B sold and bought 0.01).
    for account in (maker, taker):
        assert await _recorded_net(bot, account.pk) == 0


async def _recorded_net(bot: HedgeBot, account_id: int) -> Decimal:
    rows = Fill.objects.filter(bot=bot, account_id=account_id).values_list("side", "size_base")
    fills = await sync_to_async(lambda: list(rows))()
    assert fills, f"no fills of the bot recorded on account {account_id}"
    return sum((size if side == "buy" else -size for side, size in fills), Decimal(0))


async def _fills_recorded(bot: HedgeBot, count: int) -> bool:
    return await sync_to_async(Fill.objects.filter(bot=bot).count)() == count


async def test_a_hedge_bots_stop_loss_closes_both_legs(simulator, pair):
    """The pair's stop-loss halts it and closes both legs, verified (the strategy's `Halt`
    pair carries each leg's close; the runner only cancelled A's orders and kept both
    positions open, so the loss could go on growing)."""
    maker_sim, taker_sim, maker, taker = pair
    bot = await sync_to_async(hedge_bot)(
        maker, taker, hold_min_ms=60_000, stop_loss_quote=Decimal("0.01")
    )
    _, task = await start_resting(simulator, maker_sim.index, bot)
    # A buys at its price and the price is then 2 below it: the pair is 0.02 or more down.
    await fill_resting(simulator, maker_sim.index)
    assert await finish(task) == "stopped"
    kinds = await _event_kinds(bot)
    assert "stop_loss" in kinds and "legs_closed" in kinds, kinds
    # Each close's end came from the stream as it arrived: the closes did not wait out the
    # client's ticket timeout for reports queued behind the runner's own turn (10 s for two).
    assert await seconds_between(bot, "close_started", "legs_closed") < CLOSE_TICKET_TIMEOUT_S
    assert sim_position(simulator, maker_sim.index) == 0
    assert sim_position(simulator, taker_sim.index) == 0
    assert sim_open_orders(simulator, maker_sim.index, ETH) == []
    # The closes are the bot's fills: its books are flat on each account, like the exchange.
    for account in (maker, taker):
        fills = await sync_to_async(Fill.objects.filter(bot=bot, account=account).count)()
        if fills:
            assert await _recorded_net(bot, account.pk) == 0


async def test_cancel_all_on_a_hedge_bots_account_stops_it_and_nothing_rests_after(simulator, pair):
    """Cancel-all promises that nothing is placed again: a hedge bot on the account is stopped
    (A's order cancelled, both positions kept; Start carries on). It was only marked paused,
    which its runner does not do (it must never stop hedging a fill): it placed A's order again
    right after the account-wide cancel."""
    maker_sim, _, maker, taker = pair
    bot = await sync_to_async(hedge_bot)(maker, taker, hold_min_ms=60_000)
    _, task = await start_resting(simulator, maker_sim.index, bot)
    reports = await sync_to_async(services.cancel_all)(maker, None, actor="op")
    assert [r.verified for r in reports] == [True], reports
    assert await finish(task) == "stopped"
    await asyncio.sleep(1.0)  # a runner that went on would have placed A's order again by now
    assert sim_open_orders(simulator, maker_sim.index, ETH) == []
    assert (await sync_to_async(HedgeBot.objects.get)(pk=bot.pk)).desired_state == "stopped"


async def test_a_stop_loss_set_on_a_running_hedge_bot_applies_at_once(simulator, pair, redis_url):
    """The admin and the API take a hedge bot's stop-loss while it runs: the runner applies it
    from its next step (it held the config it started with, so a stop-loss saved meanwhile was
    stored and ignored), and a pair already past it stops and closes both legs."""
    maker_sim, taker_sim, maker, taker = pair
    bot = await sync_to_async(hedge_bot)(maker, taker, hold_min_ms=60_000)
    runner, task = await opened_and_hedged(simulator, pair, bot)
    await wait_until(lambda: _fills_recorded(bot, 2), what="both legs' fills recorded")
    # A bought at its resting price, B sold after the price went through it: the pair lost.
    loss = -(await sync_to_async(pair_pnl_from_fills)(bot))
    assert loss > 0

    far, near = (loss * 10).quantize(Decimal("0.01")), (loss / 2).quantize(Decimal("0.0001"))
    # Further than the loss: applied (pushed at the save's commit), the pair holds on.
    await sync_to_async(services.hedge_bot_update)(bot, actor="op", stop_loss_quote=far)
    await wait_until(
        lambda: _event_recorded(bot, "settings_changed"), what="the new stop-loss applied"
    )
    assert runner.strategy.config.stop_loss_quote == far
    assert not task.done()
    assert sim_position(simulator, maker_sim.index) == Decimal("0.01")

    # Nearer than the loss: the pair stops and both legs are closed.
    await sync_to_async(services.hedge_bot_update)(bot, actor="op", stop_loss_quote=near)
    assert await finish(task) == "stopped"
    kinds = await _event_kinds(bot)
    assert kinds.count("settings_changed") == 2
    assert "stop_loss" in kinds, kinds
    await wait_positions(simulator, runner, maker_sim.index, taker_sim.index, "0", "0")


async def test_plain_stop_keeps_both_legs_and_close_of_a_stopped_bot_closes_them(simulator, pair):
    maker_sim, taker_sim, maker, taker = pair
    bot = await sync_to_async(hedge_bot)(maker, taker, hold_min_ms=60_000)
    _, task = await opened_and_hedged(simulator, pair, bot)
    await sync_to_async(HedgeBot.objects.filter(pk=bot.pk).update)(desired_state="stopped")
    assert await finish(task) == "stopped"
    assert sim_position(simulator, maker_sim.index) == Decimal("0.01")  # kept
    assert sim_position(simulator, taker_sim.index) == Decimal("-0.01")

    with pytest.raises(services.BotActionRefused):  # not confirmed: nothing happens
        await sync_to_async(services.hedge_bot_stop_close)(bot, actor="op", confirm=False)
    assert sim_position(simulator, maker_sim.index) == Decimal("0.01")

    # No runner alive: the service closes both legs itself, verified.
    await sync_to_async(services.hedge_bot_stop_close)(bot, actor="op", confirm=True)
    assert sim_position(simulator, maker_sim.index) == 0
    assert sim_position(simulator, taker_sim.index) == 0
    closes = await sync_to_async(
        lambda: list(
            BotEvent.objects.filter(bot=bot, kind="close_leg")
            .order_by("id")
            .values_list("data", flat=True)
        )
    )()
    assert [(d["leg"], d["status"]) for d in closes] == [("A", "closed"), ("B", "closed")]
    # The closes' fills are the bot's, as when its runner closes the legs: its own positions
    # (fills) on both accounts are flat like the exchange's.
    for account in (maker, taker):
        assert await _recorded_net(bot, account.pk) == 0


async def test_the_runner_keeps_both_legs_switches_armed_and_a_clean_stop_aborts_them(
    simulator, pair
):
    """A hedge bot's resting order on A must not outlive every process: while the runner
    lives, each leg's account keeps Lighter's scheduled cancel-all ahead; a clean stop aborts
    both (no other bot trades on them)."""
    maker_sim, _, maker, taker = pair

    def switch_on(account) -> None:  # type: ignore[no-untyped-def]
        account.dead_mans_switch = True
        account.save(update_fields=["dead_mans_switch"])

    async def scheduled(account) -> int:  # type: ignore[no-untyped-def]
        async with account.client() as client:
            return (await client.account()).cancel_all_time_ms

    for account in (maker, taker):
        await sync_to_async(switch_on)(account)
    bot = await sync_to_async(hedge_bot)(maker, taker)
    _, task = await start_resting(simulator, maker_sim.index, bot)

    async def both_armed() -> bool:
        return await scheduled(maker) > 0 and await scheduled(taker) > 0

    await wait_until(both_armed, what="both accounts' switches armed")

    await sync_to_async(services.bot_stop)(bot, actor="op")
    assert await finish(task) == "stopped"
    assert (await scheduled(maker), await scheduled(taker)) == (0, 0)


async def test_a_create_of_a_that_never_executes_is_placed_again_within_seconds(
    simulator, pair, settings
):
    """A's create answered 200 but never executed ("returned 200 but nothing happened"): the
    stream never confirms it, so the runner reads the exchange a few seconds after, finds it
    unknown there and the core places A again, instead of waiting for the periodic reconcile
    or the order's timeout (here both far away)."""
    maker_sim, _, maker, taker = pair
    settings.HEDGE_RECONCILE_SECONDS = 600
    bot = await sync_to_async(hedge_bot)(maker, taker, order_timeout_ms=600_000)
    lose = {"kind": "tx_never_executed", "target": f"sendTx:{TX_CREATE_ORDER}", "count": 1}
    simulator.faults(lose)
    try:
        _, task = await start(bot)
        await wait_until(
            lambda: _async(simulator.sim("GET", "/sim/faults")["rules"][0]["count"] == 0),
            what="A's first create lost",
        )
        await wait_until(
            lambda: _async(len(sim_open_orders(simulator, maker_sim.index, ETH)) == 1),
            timeout_s=20,
            what="A's order placed again",
        )
    finally:
        simulator.faults()
    await sync_to_async(services.bot_stop)(bot, actor="op")
    assert await finish(task) == "stopped"


async def test_the_legs_positions_reach_the_accounts_pages_at_the_reconcile(
    simulator, pair, settings
):
    """Once hedged, both accounts' positions as the pages show them (the account's last check)
    are the exchange's, not those of the check before the fill ("none" while the pair holds)."""
    settings.HEDGE_RECONCILE_SECONDS = 1
    _, _, maker, taker = pair
    bot = await sync_to_async(hedge_bot)(maker, taker, hold_min_ms=60_000)
    _, task = await opened_and_hedged(simulator, pair, bot)

    def shown(account) -> list[tuple[str, str, Decimal]]:  # type: ignore[no-untyped-def]
        account.refresh_from_db()
        rows = (account.last_check_summary or {}).get("positions", [])
        return [(r["symbol"], r["side"], Decimal(r["size"])) for r in rows]

    async def both_shown() -> bool:
        a, b = await sync_to_async(shown)(maker), await sync_to_async(shown)(taker)
        return a == [("ETH", "long", Decimal("0.01"))] and b == [("ETH", "short", Decimal("0.01"))]

    await wait_until(both_shown, what="both legs' positions on their accounts' pages")
    await sync_to_async(services.bot_stop)(bot, actor="op")
    assert await finish(task) == "stopped"
