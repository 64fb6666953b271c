"""Order building before signing: tick/lot quantisation, minimums, protection price, batching."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchange.errors import OrderRefusedError
from exchange.orders import (
    MAX_BATCH_SIZE,
    CancelSpec,
    OrderType,
    TimeInForce,
    build_order,
    chunks,
    leverage_fraction,
    protection_price,
)
from exchange.types import BookLevel, MarketInfo, OrderBook, OrderSide

ETH = MarketInfo(
    market_id=0,
    symbol="ETH",
    size_decimals=4,
    price_decimals=2,
    min_base_amount=Decimal("0.0050"),
    min_quote_amount=Decimal("10"),
    max_leverage=Decimal(50),
)


def _build(side=OrderSide.BUY, size="0.1", price="3000", **kw):
    return build_order(
        ETH, side=side, size=Decimal(size), price=Decimal(price), client_order_index=1, **kw
    )


@pytest.mark.parametrize(
    ("side", "price", "ticks"),
    [
        (OrderSide.BUY, "3000.019", 300001),
        (OrderSide.SELL, "3000.011", 300002),
        (OrderSide.BUY, "3000.01", 300001),
    ],
)
def test_price_rounds_away_from_aggression(side, price, ticks):
    assert _build(side=side, price=price).price == ticks


def test_size_rounds_down_to_the_lot():
    assert _build(size="0.12349").base_amount == 1234


def test_below_minimum_base_amount_is_refused_with_the_minimum():
    with pytest.raises(OrderRefusedError, match=r"minimum base amount 0\.0050"):
        _build(size="0.004")


def test_below_minimum_notional_is_refused_with_the_minimum():
    with pytest.raises(OrderRefusedError, match="minimum quote amount 10"):
        _build(size="0.006", price="1000")


def test_reduce_only_may_close_a_remainder_below_the_minimum():
    assert _build(size="0.001", reduce_only=True).base_amount == 10


def test_size_that_rounds_to_zero_is_refused():
    with pytest.raises(OrderRefusedError, match="zero lots"):
        _build(size="0.00001", reduce_only=True)


def test_ioc_orders_carry_no_expiry_and_resting_ones_the_default():
    assert _build(time_in_force=TimeInForce.IOC).order_expiry_ms == 0
    assert _build(time_in_force=TimeInForce.POST_ONLY).order_expiry_ms == -1


def test_client_order_index_must_fit_48_bits():
    with pytest.raises(OrderRefusedError):
        build_order(
            ETH, side=OrderSide.BUY, size=Decimal("0.1"), price=Decimal(3000),
            client_order_index=2**48, order_type=OrderType.LIMIT,
        )  # fmt: skip


BOOK = OrderBook(
    market_id=0,
    bids=(BookLevel(Decimal("2999"), Decimal(1)),),
    asks=(BookLevel(Decimal("3001"), Decimal(1)),),
)


def test_protection_price_is_bounded_off_the_best_opposite_price():
    assert protection_price(BOOK, OrderSide.BUY, Decimal(1), Decimal("0.01")) == Decimal("3031.01")
    assert protection_price(BOOK, OrderSide.SELL, Decimal(1), Decimal("0.01")) == Decimal("2969.01")


def test_protection_price_needs_an_opposite_side():
    empty = OrderBook(market_id=0, bids=(), asks=())
    with pytest.raises(OrderRefusedError, match="no asks"):
        protection_price(empty, OrderSide.BUY, Decimal(1), Decimal("0.01"))


def test_leverage_becomes_an_initial_margin_fraction():
    assert leverage_fraction(Decimal(20)) == 500 and leverage_fraction(Decimal(1)) == 10_000


def test_batches_split_at_fifty_in_order():
    specs = [CancelSpec(0, i) for i in range(120)]
    parts = chunks(specs)
    assert [len(p) for p in parts] == [MAX_BATCH_SIZE, MAX_BATCH_SIZE, 20]
    assert [s for p in parts for s in p] == specs
