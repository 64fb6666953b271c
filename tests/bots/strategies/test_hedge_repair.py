"""Hedges that fail and imbalances: bounded retries with backoff, repair, and error."""

from __future__ import annotations

from decimal import Decimal

from bots.strategies.grid import LiveOrder, MarketView, Side
from bots.strategies.hedge import HedgeState, RetryPolicy
from bots.strategies.protocol import Cancel, Intent, MarketOrder, OrderEnded, PositionSet

from .test_hedge_hand import Hand, make_hand, market_orders, places
from .test_hedge_venue import A, B

D = Decimal
SELL_HEDGE = MarketOrder(B, Side.SELL, D("0.050"), D("99.8"))


def hedging(**overrides: object) -> Hand:
    """A's order filled in full at 0 ms; its hedge (SELL_HEDGE) is in flight."""
    hand = make_hand(**overrides)
    hand.at(0)
    hand.tell(PositionSet(A, D(0)), PositionSet(B, D(0)))
    assert market_orders(hand.fill(A, Side.BUY, "0.050", "100.0", "0.050")) == [SELL_HEDGE]
    return hand


def first_send_at(hand: Hand, start_ms: int, end_ms: int) -> tuple[int, list[Intent]]:
    """The first tick in `start_ms..end_ms` (1 ms apart) at which a market order goes out."""
    for now in range(start_ms, end_ms + 1):
        intents = hand.at(now)
        if market_orders(intents):
            return now, intents
    raise AssertionError(f"no market order between {start_ms} and {end_ms} ms")


def test_a_hedge_that_ends_unfilled_is_retried_with_bounded_backoff_and_completes() -> None:
    hand = hedging()  # backoff 100 ms doubling, capped at 800 ms, 4 attempts
    assert hand.ended(B, 900, "canceled-margin-not-allowed") == []
    sent, intents = first_send_at(hand, 1, 1_000)
    assert (sent, market_orders(intents)) == (100, [SELL_HEDGE])
    hand.ended(B, 901)
    sent, intents = first_send_at(hand, 101, 1_000)
    assert (sent, market_orders(intents)) == (300, [SELL_HEDGE])  # 200 ms later
    assert hand.fill(B, Side.SELL, "0.050", "100.0", "-0.050", index=902) == []
    assert hand.strategy.state is HedgeState.HOLDING
    assert hand.events() == ["start", "hedge_due", "hedge_retry", "hedge_retry", "hedged",
                             "opened"]  # fmt: skip


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy(max_attempts=10, backoff_base_ms=100, backoff_cap_ms=800)
    assert [policy.delay_ms(n) for n in range(1, 7)] == [100, 200, 400, 800, 800, 800]
    assert policy.delay_ms(10**6) == 800


def test_a_partly_filled_hedge_is_retried_for_the_remainder() -> None:
    hand = hedging()
    hand.fill(B, Side.SELL, "0.020", "100.0", "-0.020")
    hand.ended(B, 900, "canceled-too-much-slippage")
    _, intents = first_send_at(hand, 1, 200)
    assert market_orders(intents) == [MarketOrder(B, Side.SELL, D("0.030"), D("99.8"))]


def test_a_hedge_with_no_report_is_given_up_after_the_hedge_timeout_and_retried() -> None:
    hand = hedging()  # hedge_timeout_ms 1000
    assert market_orders(hand.at(999)) == []
    assert market_orders(hand.at(1_000)) == []  # given up on: the backoff starts
    assert market_orders(hand.at(1_100)) == [SELL_HEDGE]


def test_a_late_fill_of_a_hedge_given_up_on_is_corrected_with_a_reduce_only_order() -> None:
    hand = hedging()
    hand.at(1_000)
    hand.at(1_100)  # retried
    hand.fill(B, Side.SELL, "0.050", "100.0", "-0.050", index=901)  # the retry
    intents = hand.fill(B, Side.SELL, "0.050", "100.0", "-0.100", index=900)  # the first, late
    assert market_orders(intents) == [
        MarketOrder(B, Side.BUY, D("0.050"), D("100.4"), reduce_only=True)]  # fmt: skip
    assert hand.strategy.state is HedgeState.HEDGING


def test_a_late_fill_of_a_hedge_given_up_on_is_not_taken_for_the_retry_in_flight() -> None:
    # With the index of each market order told (`OrderSent`), the retry stays in flight until
    # its own report: nothing else goes out on B meanwhile.
    hand = hedging()
    hand.tell_sent = True
    hand.at(1_000)  # hedge 900 given up on (its index was never told: it went out before)
    assert market_orders(hand.at(1_100)) == [SELL_HEDGE]  # retry 901, told
    assert hand.fill(B, Side.SELL, "0.050", "100.0", "-0.050", index=900) == []  # 900, late
    assert hand.strategy.orders.inflight is not None
    assert hand.strategy.state is HedgeState.HEDGING
    intents = hand.fill(B, Side.SELL, "0.050", "100.0", "-0.100", index=901)  # 901 executes too
    assert market_orders(intents) == [
        MarketOrder(B, Side.BUY, D("0.050"), D("100.4"), reduce_only=True)]  # fmt: skip


def test_without_the_index_told_a_late_fill_is_taken_for_the_retry() -> None:
    # The fallback (documented): the first report in flight names the order in flight.
    hand = hedging()
    hand.at(1_000)
    hand.at(1_100)
    hand.fill(B, Side.SELL, "0.050", "100.0", "-0.050", index=900)
    assert hand.strategy.orders.inflight is None
    assert hand.strategy.state is HedgeState.OPENING or hand.strategy.state is HedgeState.HOLDING


def test_a_late_end_of_an_older_order_does_not_end_the_hedge_in_flight() -> None:
    hand = hedging()
    hand.fill(B, Side.SELL, "0.010", "100.0", "-0.010")  # the hedge is order 900
    assert hand.ended(B, 899) == []  # another order's end
    assert hand.strategy.orders.inflight is not None


def test_used_up_hedge_attempts_pause_a_and_repair_the_leg_that_is_over() -> None:
    hand = hedging(hedge_retry=RetryPolicy(max_attempts=2, backoff_base_ms=100))
    hand.ended(B, 900)
    first_send_at(hand, 1, 200)
    intents = hand.ended(B, 901)
    assert hand.strategy.state is HedgeState.REPAIRING
    # A holds 0.050 and B nothing: A is the leg over; its reducing order goes out at once.
    assert market_orders(intents) == [
        MarketOrder(A, Side.SELL, D("0.050"), D("99.8"), reduce_only=True)]  # fmt: skip
    (place,) = places(hand.fill(A, Side.SELL, "0.050", "100.0", "0", index=902))
    assert hand.strategy.state is HedgeState.OPENING
    assert place.order.size_base == D("0.050")  # the cycle opens again from flat
    assert hand.events()[-2:] == ["hedge_failed", "repaired_open"]


def test_an_imbalance_created_on_b_is_repaired_after_the_grace() -> None:
    hand = hedging()
    hand.fill(B, Side.SELL, "0.050", "100.0", "-0.050")
    assert hand.strategy.state is HedgeState.HOLDING
    assert hand.tell(PositionSet(B, D("-0.060"))) == []  # someone sold 0.010 more on B by hand
    assert hand.at(299) == []  # within imbalance_grace_ms: maybe a report still on its way
    intents = hand.at(300)
    assert market_orders(intents) == [
        MarketOrder(B, Side.BUY, D("0.010"), D("100.4"), reduce_only=True)]  # fmt: skip
    assert hand.fill(B, Side.BUY, "0.010", "100.2", "-0.050") == []
    assert hand.strategy.state is HedgeState.HOLDING
    repair = [t for t in hand.strategy.drain_transitions() if t.event == "repaired_open"]
    assert repair[0].data["before_base"] == "-0.010" and repair[0].data["after_base"] == "0.000"
    assert hand.strategy.repairs == 1


def test_an_imbalance_in_opening_cancels_a_before_the_repair() -> None:
    hand = make_hand()
    hand.at(0)
    hand.tell(PositionSet(A, D(0)), PositionSet(B, D(0)))
    index = hand.last_index
    hand.tell(PositionSet(B, D("0.020")))
    assert hand.at(300) == [Cancel(A, index)]
    assert market_orders(hand.at(400)) == []  # A not confirmed quiet yet
    intents = hand.ended(A, index)
    assert market_orders(intents) == [
        MarketOrder(B, Side.SELL, D("0.020"), D("99.8"), reduce_only=True)]  # fmt: skip


def test_both_legs_moved_alike_is_adopted_without_a_repair() -> None:
    hand = hedging()
    hand.fill(B, Side.SELL, "0.050", "100.0", "-0.050")
    hand.tell(PositionSet(A, D("0.060")), PositionSet(B, D("-0.060")))
    assert hand.at(300) == [] and hand.at(600) == []
    assert hand.strategy.state is HedgeState.HOLDING
    assert hand.strategy.net_exposure() == 0


def test_repairs_that_keep_failing_end_in_error_with_a_cancelled() -> None:
    hand = hedging(repair_attempts=2, hedge_retry=RetryPolicy(4, 100, 800))
    hand.fill(B, Side.SELL, "0.050", "100.0", "-0.050")
    hand.tell(PositionSet(B, D("-0.070")))
    hand.at(300)  # repair 1 out
    hand.ended(B, 901, "canceled-not-enough-liquidity")
    hand.at(600)  # positions did not move within the grace: failed
    assert hand.strategy.state is HedgeState.REPAIRING
    assert first_send_at(hand, 601, 1_000)[0] == 700  # repair 2 after the backoff
    hand.ended(B, 902, "canceled-not-enough-liquidity")
    hand.at(2_000)
    strategy = hand.strategy
    assert strategy.state is HedgeState.ERROR and strategy.finished
    assert [t.event for t in strategy.drain_transitions()][-3:] == [
        "imbalance", "repair_failed", "give_up"]  # fmt: skip
    assert strategy.net_exposure() == D("-0.020")
    assert not strategy.figures(2_000).within_tolerance
    # Nothing is sent in error, and any order of ours on A is cancelled.
    hand.orders[77] = LiveOrder(0, Side.BUY, D("100.0"), D("0.050"), 77, "open")
    assert hand.decide() == [Cancel(A, 77)]
    hand.ended(A, 77)
    assert hand.at(10_000) == []


def test_no_order_goes_out_on_a_while_the_exchange_reports_the_pair_beyond_tolerance() -> None:
    # Found by the property: a hand trade on B reported in the burst that confirms the cancel
    # of A's timed-out order must not let the re-place out during the imbalance's grace.
    hand = make_hand(order_timeout_ms=100)
    hand.at(0)
    hand.tell(PositionSet(A, D(0)), PositionSet(B, D(0)))
    index = hand.last_index
    hand.market = MarketView(D("100.5"), D("100.7"), D("100.6"))
    assert hand.at(100) == [Cancel(A, index)]
    assert hand.tell(OrderEnded(A, index, "canceled"), PositionSet(B, D("0.005"))) == []
    assert places(hand.at(200)) == []
    # Past the grace it is repaired; then A opens again.
    assert market_orders(hand.at(400)) == [
        MarketOrder(B, Side.SELL, D("0.005"), D("100.3"), reduce_only=True)]  # fmt: skip
    (place,) = places(hand.fill(B, Side.SELL, "0.005", "100.5", "0"))
    assert place.order.price == D("100.5")


def test_a_repair_that_reduced_the_net_is_followed_by_another_at_once() -> None:
    hand = hedging(repair_attempts=1)  # one failed repair would be an error
    hand.fill(B, Side.SELL, "0.050", "100.0", "-0.050")
    hand.tell(PositionSet(B, D("-0.070")))
    assert market_orders(hand.at(300)) == [
        MarketOrder(B, Side.BUY, D("0.020"), D("100.4"), reduce_only=True)]  # fmt: skip
    hand.fill(B, Side.BUY, "0.010", "100.2", "-0.060")  # half of it...
    hand.ended(B, hand.last_market, "canceled-not-enough-liquidity")  # ...then no liquidity
    assert market_orders(hand.at(599)) == []
    assert market_orders(hand.at(600)) == [
        MarketOrder(B, Side.BUY, D("0.010"), D("100.4"), reduce_only=True)]  # fmt: skip
    assert hand.strategy.state is HedgeState.REPAIRING
    hand.fill(B, Side.BUY, "0.010", "100.2", "-0.050")
    assert hand.strategy.state is HedgeState.HOLDING
    assert [t.event for t in hand.strategy.drain_transitions()][-4:] == [
        "imbalance", "repair_partial", "repaired_open", "opened"]  # fmt: skip


def closed_but_for_b(**overrides: object) -> Hand:
    """The last cycle: opened, hedged, held, A's close filled; B's close hedge in flight."""
    hand = hedging(cycles=1, **overrides)
    hand.tell_sent = True
    hand.fill(B, Side.SELL, "0.050", "100.0", "-0.050")
    hand.at(1_000)
    hand.fill(A, Side.SELL, "0.050", "100.2", "0")
    return hand


def test_the_last_cycle_waits_for_the_fate_of_a_hedge_given_up_on() -> None:
    hand = closed_but_for_b()
    given_up = hand.last_market
    hand.at(2_000)  # no report: given up on
    hand.at(2_100)  # the retry
    hand.fill(B, Side.BUY, "0.050", "100.2", "0")
    assert hand.strategy.state is HedgeState.CLOSING  # the first may still execute
    hand.ended(B, given_up, "never executed")
    assert hand.strategy.state is HedgeState.STOPPED


def test_the_last_cycle_waits_for_a_reported_imbalance_to_be_repaired() -> None:
    hand = closed_but_for_b()
    hand.fill(B, Side.BUY, "0.050", "100.2", "0.005")  # B's hedge, and 0.005 bought by hand
    assert hand.strategy.state is HedgeState.CLOSING  # not stopped with the net at 0.005
    assert market_orders(hand.at(1_299)) == []
    (repair,) = market_orders(hand.at(1_300))
    assert repair == MarketOrder(B, Side.SELL, D("0.005"), D("99.8"), reduce_only=True)
    hand.fill(B, Side.SELL, "0.005", "100.0", "0")
    assert hand.strategy.state is HedgeState.STOPPED and hand.strategy.is_flat()


def test_the_imbalance_event_names_the_tolerance_on_the_lot() -> None:
    """The tolerance comes from a row with ten decimals: `0.0040000000` read as noise."""
    hand = hedging(imbalance_tolerance_base=D("0.0040000000"))
    hand.fill(B, Side.SELL, "0.050", "100.0", "-0.050")
    hand.tell(PositionSet(B, D("-0.060")))
    hand.at(300)

    (reason,) = [t.reason for t in hand.strategy.drain_transitions() if t.event == "imbalance"]
    assert reason.endswith("beyond tolerance 0.004"), reason
