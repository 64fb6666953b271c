"""The runner's per-order state stays bounded however many orders it ever placed."""

from __future__ import annotations

from decimal import Decimal

from bots.engine import intake
from bots.engine.working import ENDED_KEPT, WorkingOrders
from bots.models import Order
from bots.strategies.accounting import Ledger
from bots.strategies.grid import Side
from bots.strategies.protocol import Filled, Leg, OrderTraded
from exchange.streams import FillEvent, OrderUpdate
from exchange.types import FillInfo, LiquidityRole, OrderInfo, OrderSide

MARKET = 1
LEG = Leg(account_id=1, market_id=1)
ORDERS = 10_000
LEVELS = 5


def _row(index: int) -> Order:
    return Order(
        client_order_index=index,
        side="buy",
        price=Decimal("100"),
        size_base=Decimal("1"),
        level_index=index % LEVELS,
        status="pending",
    )


def _report(index: int, status: str, filled: Decimal) -> OrderInfo:
    return OrderInfo(
        order_index=index, client_order_index=index, market_id=MARKET, side=OrderSide.BUY,
        order_type="limit", time_in_force="post-only", price=Decimal("100"),
        initial_size=Decimal("1"), remaining_size=Decimal("1") - filled, filled_size=filled,
        filled_quote=filled * 100, status=status, reduce_only=False, trigger_price=Decimal(0),
        owner_account_index=7,
    )  # fmt: skip


def _fill(index: int) -> FillInfo:
    return FillInfo(
        trade_id=index, market_id=MARKET, account_index=7, order_index=index,
        client_order_index=index, side=OrderSide.BUY, role=LiquidityRole.MAKER,
        price=Decimal("100"), size=Decimal("1"), quote=Decimal("100"), fee_rate_e6=0,
        timestamp_ms=index,
    )  # fmt: skip


def test_ten_thousand_orders_leave_bounded_state() -> None:
    orders, ledger = WorkingOrders(), Ledger()
    peak = 0
    for index in range(ORDERS):
        orders.track([_row(index)])
        if index % 2:  # half are cancelled by us, half fill
            orders.cancelling.add(index)
            events = [OrderUpdate(7, (_report(index, "canceled", Decimal(0)),), False)]
        else:
            events = [
                OrderUpdate(7, (_report(index, "filled", Decimal(1)),), False),
                FillEvent(7, (_fill(index),), False),
            ]
        burst = intake.take_in(events, LEG, MARKET, orders, ledger)
        if index % 2 == 0:
            assert [type(e) for e in burst.events] == [OrderTraded, Filled]
        peak = max(peak, orders.held())
    assert orders.live == {} and orders.filled == {} and orders.cancelling == set()
    assert len(orders.ended) == ENDED_KEPT
    assert peak <= 2 * ENDED_KEPT + 3


def test_an_order_we_cancelled_ends_as_expected_and_others_do_not() -> None:
    orders, ledger = WorkingOrders(), Ledger()
    orders.track([_row(1), _row(2)])
    orders.cancelling.add(1)
    reports = (_report(1, "canceled", Decimal(0)), _report(2, "canceled", Decimal(0)))
    intake.take_in([OrderUpdate(7, reports, False)], LEG, MARKET, orders, ledger)
    assert orders.live == {}
    assert orders.expected_end(1)
    assert not orders.expected_end(2)


def test_a_fill_reported_after_its_order_ended_still_finds_its_level() -> None:
    orders, ledger = WorkingOrders(), Ledger()
    orders.track([_row(3)])
    intake.take_in([OrderUpdate(7, (_report(3, "filled", Decimal(1)),), False)], LEG, MARKET,
                   orders, ledger)  # fmt: skip
    burst = intake.take_in([FillEvent(7, (_fill(3),), False)], LEG, MARKET, orders, ledger)
    assert burst.events == [Filled(LEG, Side.BUY, Decimal("1"), 3, 3, Decimal("100"))]
