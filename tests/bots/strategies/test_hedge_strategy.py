"""The hedge strategy driven by hand-built events: a cycle, partial fills, A's order life, risk."""

from __future__ import annotations

import random
from decimal import Decimal

from bots.strategies.accounting import Fill, summarize
from bots.strategies.grid import LiveOrder, MarketView, RiskTrigger, Side
from bots.strategies.hedge import (
    BookLevels,
    Direction,
    HedgeSnapshot,
    HedgeState,
    HedgeStrategy,
    Phase,
    PriceMode,
)
from bots.strategies.protocol import Cancel, Halt, Intent, MarketOrder, Place, PositionSet

from .test_hedge_hand import Hand, make_hand, market_orders, places
from .test_hedge_venue import MARKET, A, B, make_config

D = Decimal


def started(**overrides: object) -> tuple[Hand, list[Intent]]:
    """A hand-driven strategy told its clock and both (flat) positions: its first decision."""
    hand = make_hand(**overrides)
    hand.at(0)
    return hand, hand.tell(PositionSet(A, D(0)), PositionSet(B, D(0)))


def test_start_places_a_post_only_buy_of_the_size_at_the_best_bid() -> None:
    hand, intents = started()
    (place,) = intents
    assert isinstance(place, Place) and place.leg == A
    order = place.order
    assert (order.side, order.price, order.size_base, order.post_only) == (
        Side.BUY, D("100.0"), D("0.050"), True)  # fmt: skip
    assert hand.strategy.state is HedgeState.OPENING
    assert hand.events() == ["start"]


def test_nothing_is_placed_before_both_positions_are_known() -> None:
    hand = make_hand()
    hand.at(0)
    assert hand.tell(PositionSet(A, D(0))) == []
    assert hand.strategy.state is HedgeState.IDLE


def test_a_short_maker_opens_with_a_sell_at_the_best_ask() -> None:
    _, intents = started(direction=Direction.SHORT)
    order = places(intents)[0].order
    assert (order.side, order.price, order.level) == (Side.SELL, D("100.2"), 0)


def test_full_cycle_leaves_both_legs_flat_and_the_pair_pnl_is_the_sum_of_the_ledgers() -> None:
    hand, _ = started(cycles=1)
    hedge = market_orders(hand.fill(A, Side.BUY, "0.050", "100.0", "0.050"))
    assert hedge == [MarketOrder(B, Side.SELL, D("0.050"), D("99.8"), reduce_only=False)]
    assert hand.fill(B, Side.SELL, "0.050", "99.9", "-0.050") == []
    assert hand.strategy.state is HedgeState.HOLDING
    assert hand.at(999) == []
    (close,) = places(hand.at(1_000))
    assert (close.order.side, close.order.price, close.order.size_base, close.order.level) == (
        Side.SELL, D("100.2"), D("0.050"), 1)  # fmt: skip
    hedge = market_orders(hand.fill(A, Side.SELL, "0.050", "100.2", "0"))
    assert hedge == [MarketOrder(B, Side.BUY, D("0.050"), D("100.4"), reduce_only=True)]
    assert hand.fill(B, Side.BUY, "0.050", "100.3", "0") == []

    strategy = hand.strategy
    assert strategy.state is HedgeState.STOPPED and strategy.finished
    assert strategy.is_flat() and strategy.net_exposure() == 0
    assert strategy.cycles_completed == 1
    assert hand.events() == [
        "start", "hedge_due", "hedged", "opened", "hold_over",
        "hedge_due", "hedged", "last_cycle",
    ]  # fmt: skip
    mark = D("100.1")
    leg_a = [Fill(1, "buy", D("100.0"), D("0.05"), D(0), True, 0),
             Fill(2, "sell", D("100.2"), D("0.05"), D(0), True, 1)]  # fmt: skip
    leg_b = [Fill(3, "sell", D("99.9"), D("0.05"), D(0), False, None),
             Fill(4, "buy", D("100.3"), D("0.05"), D(0), False, None)]  # fmt: skip
    expected = summarize(leg_a, [], mark).total + summarize(leg_b, [], mark).total
    assert strategy.pair_pnl(mark) == expected == D("-0.010")
    assert strategy.pair.ledger_a.round_trips == 1  # open and close pair up by their levels


def test_cycles_repeat_after_the_cooldown() -> None:
    hand, _ = started()
    hand.fill(A, Side.BUY, "0.050", "100.0", "0.050")
    hand.fill(B, Side.SELL, "0.050", "100.0", "-0.050")
    hand.at(1_000)
    hand.fill(A, Side.SELL, "0.050", "100.2", "0")
    hand.fill(B, Side.BUY, "0.050", "100.2", "0")
    assert hand.strategy.state is HedgeState.COOLDOWN
    assert hand.at(1_499) == []
    (again,) = places(hand.at(1_500))
    assert (again.order.side, again.order.level) == (Side.BUY, 0)
    assert hand.strategy.cycles_completed == 1
    assert hand.events()[-3:] == ["hedged", "closed", "cooldown_over"]


def test_partial_fills_of_a_are_hedged_piece_by_piece() -> None:
    hand, _ = started()
    first = hand.last_index
    # What rests of A's buy at 100.0 is within reach of B's sell (worst 99.8): it is cancelled
    # first, and the hedge goes once the cancel is confirmed (B never trades with A).
    assert hand.fill(A, Side.BUY, "0.020", "100.0", "0.020") == [Cancel(A, first)]
    assert market_orders(hand.ended(A, first)) == [MarketOrder(B, Side.SELL, D("0.020"), D("99.8"))]
    (rest,) = places(hand.fill(B, Side.SELL, "0.020", "100.0", "-0.020"))
    assert rest.order.size_base == D("0.030")
    second = hand.last_index
    assert hand.fill(A, Side.BUY, "0.010", "100.0", "0.030") == [Cancel(A, second)]
    # A fill of the order being cancelled (the cancel crossed it) is owed to B as well.
    assert hand.fill(A, Side.BUY, "0.005", "100.0", "0.035", index=second) == []
    assert market_orders(hand.ended(A, second)) == [
        MarketOrder(B, Side.SELL, D("0.015"), D("99.8"))]  # fmt: skip
    (rest,) = places(hand.fill(B, Side.SELL, "0.015", "100.0", "-0.035"))
    assert rest.order.size_base == D("0.015")
    # Filled in full: nothing of A rests, the hedge goes at once.
    assert market_orders(hand.fill(A, Side.BUY, "0.015", "100.0", "0.050")) == [
        MarketOrder(B, Side.SELL, D("0.015"), D("99.8"))]  # fmt: skip
    hand.fill(B, Side.SELL, "0.015", "100.0", "-0.050")
    assert hand.strategy.state is HedgeState.HOLDING
    assert hand.events() == [
        "start", "hedge_due", "self_trade_guard", "hedged", "hedge_due", "self_trade_guard",
        "a_filled", "hedged", "hedge_due", "hedged", "opened",
    ]  # fmt: skip


def test_a_resting_order_out_of_the_hedges_reach_keeps_resting_during_the_hedge() -> None:
    # A's buy 50 bps under the best bid (99.5) is below B's worst sell price (99.8).
    hand, intents = started(price_mode=PriceMode.OFFSET_BPS, offset_bps=D("50"))
    assert places(intents)[0].order.price == D("99.5")
    hedge = hand.fill(A, Side.BUY, "0.020", "99.5", "0.020")
    assert hedge == [MarketOrder(B, Side.SELL, D("0.020"), D("99.8"))]
    assert hand.strategy.maker.resting is not None
    assert "self_trade_guard" not in hand.events()


def test_a_hedge_waits_for_as_cancel_to_be_confirmed() -> None:
    hand, _ = started(order_timeout_ms=100)
    first = hand.last_index
    assert hand.fill(A, Side.BUY, "0.020", "100.0", "0.020") == [Cancel(A, first)]
    assert hand.at(50) == []  # not confirmed: A's order may still rest at 100.0
    assert hand.strategy.hedge_waits_for_cancel()  # the runner asks the exchange when slow
    assert hand.at(100) == [Cancel(A, first)]  # asked again after the order timeout
    assert market_orders(hand.ended(A, first)) == [MarketOrder(B, Side.SELL, D("0.020"), D("99.8"))]
    assert not hand.strategy.hedge_waits_for_cancel()


def test_a_fill_below_the_minimum_waits_for_more_of_the_order() -> None:
    hand, _ = started()
    assert hand.fill(A, Side.BUY, "0.003", "100.0", "0.003") == []  # minimum 0.005
    assert hand.strategy.state is HedgeState.OPENING
    index = hand.last_index
    assert hand.fill(A, Side.BUY, "0.004", "100.0", "0.007") == [Cancel(A, index)]
    assert market_orders(hand.ended(A, index)) == [
        MarketOrder(B, Side.SELL, D("0.007"), D("99.8"))]  # fmt: skip


def test_nothing_is_placed_on_a_while_b_is_behind() -> None:
    hand, _ = started(order_timeout_ms=100)
    index = hand.last_index
    # What rests of A's order is cancelled before the hedge (it is within the hedge's reach).
    assert hand.fill(A, Side.BUY, "0.020", "100.0", "0.020") == [Cancel(A, index)]
    hand.market = MarketView(D("100.5"), D("100.7"), D("100.6"))
    intents = hand.ended(A, index)  # cancel confirmed: the hedge goes, A places nothing
    assert places(intents) == [] and len(market_orders(intents)) == 1
    assert hand.at(200) == []  # B still owes 0.020
    (place,) = places(hand.fill(B, Side.SELL, "0.020", "100.5", "-0.020"))
    assert (place.order.price, place.order.size_base) == (D("100.5"), D("0.030"))


def test_order_timeout_cancels_then_replaces_at_the_fresh_price_once_confirmed() -> None:
    hand, _ = started(order_timeout_ms=100)
    first = hand.last_index
    hand.market = MarketView(D("100.5"), D("100.7"), D("100.6"))
    assert hand.at(99) == []
    assert hand.at(100) == [Cancel(A, first)]
    assert hand.at(150) == []  # not confirmed: never two A orders
    (place,) = places(hand.ended(A, first))
    assert (place.order.price, place.order.size_base) == (D("100.5"), D("0.050"))
    assert "order_timeout" in hand.events()


def test_order_timeout_names_the_prices_on_the_markets_tick() -> None:
    """The runner's orders come from rows with ten decimals: the event reads `100.6`, not
    `100.6000000000`."""
    hand, _ = started(order_timeout_ms=100)
    first = hand.last_index
    row = hand.orders[first]
    hand.orders[first] = LiveOrder(
        row.level, row.side, row.price.quantize(D("1E-10")), row.size_base, first, "open"
    )
    hand.market = MarketView(D("100.5"), D("100.7"), D("100.6"))

    assert hand.at(100) == [Cancel(A, first)]

    (reason,) = [t.reason for t in hand.strategy.drain_transitions() if t.event == "order_timeout"]
    assert "0000000" not in reason and "re-place @ 100.5" in reason


def test_order_timeout_keeps_an_order_whose_price_has_not_moved() -> None:
    hand, _ = started(order_timeout_ms=100)
    assert hand.at(100) == []
    assert hand.at(199) == []


def test_an_order_partly_filled_then_timed_out_is_replaced_for_the_rest() -> None:
    hand, _ = started(order_timeout_ms=100)
    first = hand.last_index
    hand.fill(A, Side.BUY, "0.020", "100.0", "0.020")
    hand.fill(B, Side.SELL, "0.020", "100.0", "-0.020")
    hand.market = MarketView(D("99.5"), D("99.7"), D("99.6"))
    assert hand.at(100) == [Cancel(A, first)]
    (place,) = places(hand.ended(A, first))
    assert (place.order.price, place.order.size_base) == (D("99.5"), D("0.030"))


def test_a_rest_below_the_minimum_is_left_out_once_a_holds_the_minimum() -> None:
    hand, _ = started(order_timeout_ms=100)
    hand.fill(A, Side.BUY, "0.047", "100.0", "0.047")
    hand.fill(B, Side.SELL, "0.047", "100.0", "-0.047")
    hand.market = MarketView(D("100.5"), D("100.7"), D("100.6"))
    hand.at(100)
    assert places(hand.ended(A, hand.last_index)) == []  # 0.003 left: below the minimum
    assert hand.strategy.state is HedgeState.HOLDING


def test_an_open_left_below_the_minimum_places_the_minimum() -> None:
    hand, _ = started(size_base=D("0.005"), order_timeout_ms=100)
    hand.fill(A, Side.BUY, "0.001", "100.0", "0.001")  # below the minimum: no hedge yet
    hand.market = MarketView(D("100.5"), D("100.7"), D("100.6"))
    hand.at(100)
    (place,) = places(hand.ended(A, hand.last_index))
    assert place.order.size_base == D("0.005")  # not 0.004: A ends at 0.006, not stuck at 0.001


def test_a_cancel_crossed_by_the_last_fill_is_confirmed_by_that_fill() -> None:
    hand, _ = started(order_timeout_ms=100)
    hand.market = MarketView(D("100.5"), D("100.7"), D("100.6"))
    hand.at(100)  # cancel sent
    hand.fill(A, Side.BUY, "0.050", "100.0", "0.050")  # ...but the order filled first
    hand.fill(B, Side.SELL, "0.050", "100.5", "-0.050")
    assert hand.strategy.state is HedgeState.HOLDING
    assert not hand.strategy.maker.busy


def test_a_cancel_the_runner_dropped_is_sent_again() -> None:
    hand, _ = started(order_timeout_ms=100)
    first = hand.last_index
    hand.market = MarketView(D("100.5"), D("100.7"), D("100.6"))
    hand.at(100)
    hand.cancelling.discard(first)  # the send failed: the runner shows the order again
    assert hand.decide() == [Cancel(A, first)]


def test_a_cancel_with_no_end_for_an_order_timeout_is_sent_again() -> None:
    hand, _ = started(order_timeout_ms=100)
    first = hand.last_index
    hand.market = MarketView(D("100.5"), D("100.7"), D("100.6"))
    assert hand.at(100) == [Cancel(A, first)]
    assert hand.at(199) == []
    assert hand.at(200) == [Cancel(A, first)]  # still no end: asked again, nothing placed


def test_a_second_order_of_ours_on_a_is_cancelled() -> None:
    hand, _ = started()
    first = hand.last_index
    hand.orders[99] = hand.orders[first].__class__(0, Side.BUY, D("99.0"), D("0.05"), 99, "open")
    assert hand.decide() == [Cancel(A, 99)]


def test_orders_without_a_level_are_foreign_and_left_alone() -> None:
    hand, _ = started()
    first = hand.last_index
    hand.orders[99] = hand.orders[first].__class__(None, Side.BUY, D("99"), D("1"), 99, "open")
    assert hand.decide() == []


def test_book_level_n_uses_the_levels_the_runner_sends() -> None:
    hand = make_hand(book_level=3)
    hand.at(0)
    hand.strategy.on_event(BookLevels(A, (D("100.0"), D("99.9"), D("99.7")), (D("100.2"),)))
    (place,) = places(hand.tell(PositionSet(A, D(0)), PositionSet(B, D(0))))
    assert place.order.price == D("99.7")


def test_offset_mode_prices_away_from_the_touch() -> None:
    hand = make_hand(price_mode=PriceMode.OFFSET_BPS, offset_bps=D(10))
    hand.at(0)
    (place,) = places(hand.tell(PositionSet(A, D(0)), PositionSet(B, D(0))))
    assert place.order.price == D("99.9")  # 100.0 * (1 - 0.001), rounded down


def test_stop_loss_on_the_pair_halts_both_legs_with_their_positions() -> None:
    hand, _ = started(stop_loss_quote=D("0.5"))
    hand.fill(A, Side.BUY, "0.050", "100.0", "0.050")
    # A terrible hedge: the pair is at -0.5 at mid 100.1.
    intents = hand.fill(B, Side.SELL, "0.050", "90.0", "-0.050")
    assert intents == [
        Halt(A, RiskTrigger.STOP_LOSS, D("-0.050")),
        Halt(B, RiskTrigger.STOP_LOSS, D("0.050")),
    ]
    assert hand.strategy.state is HedgeState.STOPPED
    assert hand.decide() == []  # once


def test_the_stop_loss_does_not_fire_above_its_limit() -> None:
    hand, _ = started(stop_loss_quote=D("0.51"))
    hand.fill(A, Side.BUY, "0.050", "100.0", "0.050")
    assert hand.fill(B, Side.SELL, "0.050", "90.0", "-0.050") == []  # -0.5 > -0.51
    assert hand.strategy.state is HedgeState.HOLDING


def test_the_pairs_stop_loss_values_an_open_leg_at_the_mark() -> None:
    """A's fill is not hedged yet: the pair's PnL is A's open position, valued at the mark
    (as the venue values it) when one is known; the book's mid stands in only without one."""
    hand, _ = started(stop_loss_quote=D("0.5"))
    hand.market = MarketView(D("99.9"), D("100.1"), D("100.0"), D("89.0"))
    intents = hand.fill(A, Side.BUY, "0.050", "100.0", "0.050")  # -0.55 at the mark
    assert [i.trigger for i in intents if isinstance(i, Halt)] == [RiskTrigger.STOP_LOSS] * 2

    hand, _ = started(stop_loss_quote=D("0.5"))
    hand.market = MarketView(D("99.9"), D("100.1"), D("100.0"))
    intents = hand.fill(A, Side.BUY, "0.050", "100.0", "0.050")  # 0 at the mid
    assert not any(isinstance(i, Halt) for i in intents)
    assert hand.strategy.state is not HedgeState.STOPPED


def test_a_restart_in_hedging_hedges_what_the_positions_owe() -> None:
    snapshot = HedgeSnapshot(HedgeState.HEDGING, Phase.OPEN, 0, 0, 0, None, None, False)
    hand = Hand(HedgeStrategy(make_config(), random.Random(0), restore=snapshot))
    hand.at(5_000)
    intents = hand.tell(PositionSet(A, D("0.030")), PositionSet(B, D("-0.010")))
    assert market_orders(intents) == [MarketOrder(B, Side.SELL, D("0.020"), D("99.8"))]


def test_a_restart_in_holding_keeps_its_hold_deadline() -> None:
    snapshot = HedgeSnapshot(HedgeState.HOLDING, Phase.OPEN, 0, 2, 0, 7_000, None, False)
    hand = Hand(HedgeStrategy(make_config(), random.Random(0), restore=snapshot))
    hand.at(6_000)
    assert hand.tell(PositionSet(A, D("0.050")), PositionSet(B, D("-0.050"))) == []
    (close,) = places(hand.at(7_000))
    assert close.order.side is Side.SELL and hand.strategy.cycles_completed == 2


def test_snapshot_round_trips() -> None:
    hand, _ = started()
    hand.fill(A, Side.BUY, "0.050", "100.0", "0.050")
    hand.fill(B, Side.SELL, "0.050", "100.0", "-0.050")
    snapshot = hand.strategy.snapshot()
    restored = HedgeStrategy(make_config(), random.Random(0), restore=snapshot)
    assert restored.snapshot() == snapshot
    assert snapshot.state is HedgeState.HOLDING and snapshot.hold_until_ms == 1_000


def test_hold_and_cooldown_ranges_are_drawn_from_the_seeded_generator() -> None:
    deadlines = set()
    for seed in range(5):
        hand, _ = started(hold_ms=(1_000, 9_000))
        hand.strategy.rng = random.Random(seed)
        hand.fill(A, Side.BUY, "0.050", "100.0", "0.050")
        hand.fill(B, Side.SELL, "0.050", "100.0", "-0.050")
        deadline = hand.strategy.snapshot().hold_until_ms  # opened at 0 ms
        assert deadline == random.Random(seed).randint(1_000, 9_000)
        deadlines.add(deadline)
    assert len(deadlines) > 1


def test_figures_show_state_time_net_and_hedge_latency() -> None:
    hand, _ = started()
    hand.at(1_000)
    hand.fill(A, Side.BUY, "0.050", "100.0", "0.050")
    hand.at(1_040)
    hand.fill(B, Side.SELL, "0.050", "100.0", "-0.050")
    figures = hand.strategy.figures(1_100)
    assert figures.state is HedgeState.HOLDING and figures.time_in_state_ms == 60
    assert figures.hedge_latency_ms == (40,)
    assert (figures.position_a_base, figures.position_b_base) == (D("0.050"), D("-0.050"))
    assert figures.net_exposure_base == 0 and figures.within_tolerance


def test_transitions_are_drained_once_with_time_and_reason() -> None:
    hand, _ = started()
    (start,) = hand.strategy.drain_transitions()
    assert (start.at_ms, start.source, start.target) == (0, HedgeState.IDLE, HedgeState.OPENING)
    assert start.reason
    assert hand.strategy.drain_transitions() == []


def test_market_view_of_b_prices_the_hedge() -> None:
    hand, _ = started()
    hand.market = MARKET
    hand.fill(A, Side.BUY, "0.010", "100.0", "0.010")
    hedge = market_orders(hand.ended(A, hand.last_index))
    assert hedge[0].worst_price == D("99.8")  # best bid 100.0 less 20 bps, rounded up


def test_a_restart_keeps_the_adopted_order_until_the_positions_are_known() -> None:
    snapshot = HedgeSnapshot(HedgeState.OPENING, Phase.OPEN, 0, 0, 0, None, None, False)
    hand = Hand(HedgeStrategy(make_config(), random.Random(0), restore=snapshot))
    hand.orders[42] = LiveOrder(0, Side.BUY, D("100.0"), D("0.050"), 42, "open")  # adopted
    hand.at(5_000)
    assert hand.decide() == []
    assert hand.tell(PositionSet(A, D(0)), PositionSet(B, D(0))) == []  # it is kept
    assert hand.strategy.maker.resting is not None


def test_a_restart_in_cooldown_with_b_short_of_a_hedges_b_rather_than_repairing() -> None:
    snapshot = HedgeSnapshot(HedgeState.COOLDOWN, Phase.CLOSE, 0, 1, 0, None, 9_000, True)
    hand = Hand(HedgeStrategy(make_config(), random.Random(0), restore=snapshot))
    hand.at(5_000)
    intents = hand.tell(PositionSet(A, D("-0.010")), PositionSet(B, D(0)))
    assert market_orders(intents) == [MarketOrder(B, Side.BUY, D("0.010"), D("100.4"))]
    assert hand.strategy.state is HedgeState.HEDGING_CLOSE
