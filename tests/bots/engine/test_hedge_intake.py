"""A hedge leg's reports as strategy events: fills told once, ends held until their fills."""

from __future__ import annotations

from decimal import Decimal

from bots.engine.hedge_intake import LegOrders
from bots.strategies.protocol import Filled, Leg, OrderEnded
from exchange.types import FillInfo, LiquidityRole, OrderInfo, OrderSide

LEG = Leg(2, 1)
D = Decimal


def fill(trade_id: int, index: int, size: str) -> FillInfo:
    return FillInfo(
        trade_id=trade_id, market_id=0, account_index=7, order_index=1, client_order_index=index,
        side=OrderSide.SELL, role=LiquidityRole.TAKER, price=D("3000"), size=D(size),
        quote=D("30"), fee_rate_e6=0, timestamp_ms=trade_id,
    )  # fmt: skip


def order(index: int, status: str, filled: str, size: str = "0.02") -> OrderInfo:
    return OrderInfo(
        order_index=1, client_order_index=index, market_id=0, side=OrderSide.SELL,
        order_type="market", time_in_force="immediate-or-cancel", price=D("2990"),
        initial_size=D(size), remaining_size=D(0), filled_size=D(filled), filled_quote=D(0),
        status=status, reduce_only=False, trigger_price=D(0), owner_account_index=7,
    )  # fmt: skip


def test_a_fill_of_ours_is_told_once_and_others_not_at_all():
    orders = LegOrders(LEG, 0)
    orders.track(5)

    first = orders.fills([fill(1, 5, "0.01"), fill(2, 6, "0.01")])
    again = orders.fills([fill(1, 5, "0.01")])

    assert [f for f, _ in first] == [Filled(LEG, "sell", D("0.01"), None, 5, D("3000"))]
    assert again == []


def test_an_end_counting_fills_not_told_yet_waits_for_them():
    orders = LegOrders(LEG, 0)
    orders.track(5)

    held = orders.ends([order(5, "canceled-expired", "0.01")])
    before = orders.released()
    orders.fills([fill(1, 5, "0.01")])
    after = orders.released()

    assert (held, before) == ([], [])
    assert after == [OrderEnded(LEG, 5, "canceled-expired")]


def test_an_order_that_filled_in_full_is_no_end():
    orders = LegOrders(LEG, 0)
    orders.track(5)
    orders.fills([fill(1, 5, "0.02")])

    assert orders.ends([order(5, "filled", "0.02")]) == []


def test_an_order_reported_filled_before_its_fills_is_awaited_until_they_are_told():
    orders = LegOrders(LEG, 0)
    orders.track(5)

    orders.ends([order(5, "filled", "0.02")])
    awaited = orders.awaiting_fills()
    orders.fills([fill(1, 5, "0.01")])
    partly = orders.awaiting_fills()
    orders.told_fill(5, D("0.01"))  # the rest told by A's intake

    assert (awaited, partly, orders.awaiting_fills()) == ({5}, {5}, set())


def test_fills_given_up_on_are_no_longer_awaited():
    orders = LegOrders(LEG, 0)
    orders.track(5)
    orders.ends([order(5, "filled", "0.02")])

    orders.fills_given_up(5)

    assert orders.awaiting_fills() == set()


def test_a_snapshot_kept_on_the_bot_comes_back_as_it_was():
    from bots.engine.hedge_recording import snapshot_from_json, snapshot_json
    from bots.strategies.hedge import HedgeSnapshot, HedgeState, Phase

    snapshot = HedgeSnapshot(HedgeState.HEDGING, Phase.OPEN, 1000, 2, 1, 5000, None, False)

    assert snapshot_from_json(snapshot_json(snapshot)) == snapshot


def test_an_ended_or_unreadable_snapshot_starts_afresh():
    from bots.engine.hedge_recording import snapshot_from_json

    assert snapshot_from_json({}) is None
    assert snapshot_from_json({"state": "stopped"}) is None
    assert snapshot_from_json({"state": "holding"}) is None  # fields missing
