"""The hedge runner against the in-process simulator with two funded accounts (real SDK, real
Redis, real DB): A's maker fills are hedged on B and a full cycle leaves both accounts flat."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from bots.engine.hedge_runner import HedgeRunner, hedge_runner_create
from bots.engine.runner import run_runner
from bots.models import BotEvent, Fill, HedgeBot
from tests.bots.hedge_support import (
    ETH,
    fill_resting,
    hedge_bot,
    resting_price,
    sim_collateral,
    sim_position,
    trade_against,
    wait_positions,
)
from tests.bots.runner_support import account_on, finish, sim_open_orders, wait_until

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


async def start(bot: HedgeBot) -> tuple[HedgeRunner, asyncio.Task[str]]:
    """The bot's runner as a task on the test's loop (the worker's top-level handling)."""
    runner = await hedge_runner_create(bot.pk, fence=1)
    return runner, asyncio.create_task(run_runner(runner))


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
    bot = await sync_to_async(hedge_bot)(
        maker, taker, size=Decimal("0.03"), hold_min_ms=60_000,
        price_mode="offset_bps", offset_bps=Decimal("-1"),
    )  # fmt: skip
    runner, task = await start(bot)
    await wait_until(
        lambda: _async(len(sim_open_orders(simulator, maker_sim.index, ETH)) == 1),
        what="A's opening order",
    )
    price = resting_price(simulator, maker_sim.index)

    await trade_against(simulator, other, "sell", "0.01", price)

    # Each piece of A is hedged by exactly its size. (B's sell may itself trade with what rests
    # of A's order: the pair's two accounts then trade with each other, piece by piece too.)
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
    assert len(pieces_a) >= 2
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
    runner, task = await start(bot)
    await wait_until(
        lambda: _async(len(sim_open_orders(simulator, maker_sim.index, ETH)) == 1),
        what="A's opening order",
    )
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
    runner, task = await start(bot)
    await wait_until(
        lambda: _async(len(sim_open_orders(simulator, maker_sim.index, ETH)) == 1),
        what="A's opening order",
    )
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
    runner, task = await start(bot)
    await wait_until(
        lambda: _async(len(sim_open_orders(simulator, maker_sim.index, ETH)) == 1),
        what="A's opening order",
    )
    # The account frame carrying A's fill closes the socket instead of arriving.
    simulator.faults({"kind": "ws_drop", "target": "account_all", "count": 1})

    await fill_resting(simulator, maker_sim.index)

    await wait_positions(simulator, runner, maker_sim.index, taker_sim.index, "0.01", "-0.01")
    await sync_to_async(HedgeBot.objects.filter(pk=bot.pk).update)(desired_state="stopped")
    assert await finish(task) == "stopped"


async def test_a_runner_gone_between_as_fill_and_bs_hedge_hedges_on_restart(simulator, pair):
    maker_sim, taker_sim, maker, taker = pair
    bot = await sync_to_async(hedge_bot)(maker, taker, hold_min_ms=60_000)
    _, task = await start(bot)
    await wait_until(
        lambda: _async(len(sim_open_orders(simulator, maker_sim.index, ETH)) == 1),
        what="A's opening order",
    )
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
