"""exchange.units: scaling, rounding direction and fixed-decimal formatting."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.units import (
    MarketUnits,
    UnitsError,
    format_decimal,
    format_fixed,
    from_int,
    parse_fixed,
    round_price_ticks,
    round_size_lots,
    to_int_exact,
)

ETH = MarketUnits(size_decimals=4, price_decimals=2)


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        (236131, 2, "2361.31"),
        (0, 4, "0.0000"),
        (5, 4, "0.0005"),
        (-5, 2, "-0.05"),
        (7, 0, "7"),
        (1000000, 6, "1.000000"),
        (-123456, 3, "-123.456"),
    ],
)
def test_format_fixed_has_exactly_the_requested_decimals(value, decimals, text):
    assert format_fixed(value, decimals) == text


def test_format_fixed_rejects_negative_decimals():
    with pytest.raises(UnitsError):
        format_fixed(1, -1)


@given(st.integers(min_value=-(10**15), max_value=10**15), st.integers(0, 10))
def test_format_then_parse_round_trips(value, decimals):
    assert parse_fixed(format_fixed(value, decimals), decimals) == value


@given(st.integers(min_value=0, max_value=10**12), st.integers(0, 8))
def test_from_int_then_to_int_exact_round_trips(value, decimals):
    assert to_int_exact(from_int(value, decimals), decimals) == value


def test_to_int_exact_rejects_values_off_the_grid():
    with pytest.raises(UnitsError):
        to_int_exact(Decimal("2361.315"), 2)


def test_buy_price_rounds_down_and_sell_price_rounds_up():
    assert round_price_ticks(Decimal("2361.319"), 2, is_ask=False) == 236131
    assert round_price_ticks(Decimal("2361.311"), 2, is_ask=True) == 236132


def test_prices_already_on_the_tick_do_not_move_either_way():
    assert round_price_ticks(Decimal("2361.31"), 2, is_ask=False) == 236131
    assert round_price_ticks(Decimal("2361.31"), 2, is_ask=True) == 236131


@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=6),
    st.integers(0, 5),
)
def test_rounding_never_makes_an_order_more_aggressive(price, decimals):
    buy = from_int(round_price_ticks(price, decimals, is_ask=False), decimals)
    sell = from_int(round_price_ticks(price, decimals, is_ask=True), decimals)
    assert buy <= price <= sell
    assert sell - buy <= Decimal(1).scaleb(-decimals)


@given(st.decimals(min_value=Decimal(0), max_value=Decimal("100000"), places=8))
def test_sizes_round_down_to_lots(size):
    lots = round_size_lots(size, 4)
    assert from_int(lots, 4) <= size < from_int(lots + 1, 4)


def test_negative_size_is_rejected():
    with pytest.raises(UnitsError):
        round_size_lots(Decimal("-1"), 4)


def test_non_finite_values_are_rejected():
    with pytest.raises(UnitsError):
        to_int_exact(Decimal("NaN"), 2)


def test_market_units_scale_the_spec_example():
    # lighter-api.md §8.1: ETH 0.1 @ $4050 -> BaseAmount=1000, Price=405000.
    assert ETH.size_lots(Decimal("0.1"), exact=True) == 1000
    assert ETH.price_ticks(Decimal("4050")) == 405000
    assert ETH.format_price(405000) == "4050.00"
    assert ETH.format_size(1000) == "0.1000"


def test_market_units_quote_is_exact_usdc():
    assert ETH.quote(1000, 405000) == Decimal("405.000000")
    assert ETH.format_quote(ETH.quote(317, 236132)) == "74.853844"


def test_format_decimal_refuses_to_lose_precision():
    assert format_decimal(Decimal("1.5"), 6) == "1.500000"
    with pytest.raises(UnitsError):
        format_decimal(Decimal("1.0000001"), 6)
