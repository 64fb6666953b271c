"""The hedge bot's config (every bad field named at once) and its prices."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from bots.strategies.grid import MarketView, Side
from bots.strategies.hedge import (
    BookLevels,
    HedgeConfigError,
    PriceMode,
    RetryPolicy,
    draw_ms,
    maker_price,
    worst_price,
)
from bots.strategies.protocol import Leg

from .test_hedge_venue import MARKET, A, make_config

D = Decimal


def test_a_valid_config_builds() -> None:
    config = make_config()
    assert config.size_base == D("0.050") and config.leg_a == A


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("leg_b", A, "differ"),
        ("leg_b", Leg(2, 8), "same market"),
        ("size_base", D("0.0505"), "whole number of lots"),
        ("size_base", D("0.004"), "market minimum"),
        ("size_base", D(0), "greater than zero"),
        ("size_base", 0.05, "floats"),
        ("tick_size", D("0.25"), "power of ten"),
        ("lot_size", D(0), "greater than zero"),
        ("min_base_amount", D(-1), "negative"),
        ("book_level", 0, ">= 1"),
        ("book_level", True, ">= 1"),
        ("offset_bps", D(10_000), "between"),
        ("max_slippage_bps", D(-1), ">= 0"),
        ("order_timeout_ms", 0, ">= 1"),
        ("hedge_timeout_ms", -5, ">= 1"),
        ("hold_ms", -1, ">= 0"),
        ("hold_ms", (500, 100), "min <= max"),
        ("cooldown_ms", (1, 2, 3), "pair"),
        ("cycles", 0, ">= 1"),
        ("imbalance_tolerance_base", D("0.003"), "min_base_amount - lot_size"),
        ("imbalance_tolerance_base", D(-1), "negative"),
        ("stop_loss_quote", D(0), "greater than zero"),
        ("hedge_retry", RetryPolicy(max_attempts=0), "max_attempts"),
        ("hedge_retry", RetryPolicy(backoff_base_ms=500, backoff_cap_ms=100), "backoff_cap_ms"),
        ("repair_attempts", 0, ">= 1"),
        ("imbalance_grace_ms", -1, ">= 0"),
        ("price_mode", "nearest", "unknown"),
        ("direction", "up", "unknown"),
    ],
)
def test_a_bad_field_is_named_with_its_error(field: str, value: object, message: str) -> None:
    with pytest.raises(HedgeConfigError) as caught:
        make_config(**{field: value})
    assert field in caught.value.errors
    assert message in caught.value.errors[field]


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(HedgeConfigError) as caught:
        make_config(book_level=0, cycles=0, order_timeout_ms=0)
    assert set(caught.value.errors) == {"book_level", "cycles", "order_timeout_ms"}
    assert isinstance(caught.value, ValueError)


def test_the_smallest_order_counts_lot_base_and_quote_minimums() -> None:
    config = make_config(min_quote_amount=D(10))
    assert config.min_order_base(D(100)) == D("0.100")  # 10 quote at 100
    assert config.min_order_base(D(3000)) == D("0.005")  # 0.0034 -> the base minimum wins
    assert config.min_order_base(D(1999)) == D("0.006")  # 10/1999 = 0.00500.. rounds up


def test_durations_are_fixed_or_drawn_from_their_range() -> None:
    assert draw_ms(250, random.Random(1)) == 250
    drawn = {draw_ms((10, 20), random.Random(seed)) for seed in range(50)}
    assert drawn <= set(range(10, 21)) and len(drawn) > 3


@pytest.mark.parametrize(
    ("side", "level", "expected"),
    [(Side.BUY, 1, D("100.0")), (Side.SELL, 1, D("100.2")), (Side.BUY, 2, D("99.9")),
     (Side.SELL, 2, D("100.3")), (Side.BUY, 9, D("99.5"))],  # deeper than known: the deepest
)  # fmt: skip
def test_maker_price_at_a_book_level(side: Side, level: int, expected: Decimal) -> None:
    levels = BookLevels(A, (D("100.0"), D("99.9"), D("99.5")), (D("100.2"), D("100.3")))
    assert maker_price(make_config(book_level=level), side, MARKET, levels) == expected


def test_maker_price_at_level_n_without_levels_falls_back_to_the_best_price() -> None:
    assert maker_price(make_config(book_level=3), Side.BUY, MARKET, None) == D("100.0")


@pytest.mark.parametrize(
    ("side", "offset", "expected"),
    [(Side.BUY, D(10), D("99.9")), (Side.SELL, D(10), D("100.4")),
     (Side.BUY, D("0.5"), D("99.9")),  # 99.995 rounds down: a buy never pays up
     (Side.BUY, D(-50), D("100.1")),  # into the spread, but never at the ask
     (Side.SELL, D(-50), D("100.1"))],
)  # fmt: skip
def test_maker_price_at_an_offset(side: Side, offset: Decimal, expected: Decimal) -> None:
    config = make_config(price_mode=PriceMode.OFFSET_BPS, offset_bps=offset)
    assert maker_price(config, side, MARKET, None) == expected


def test_maker_price_with_an_empty_side_uses_the_mid_and_stays_post_only() -> None:
    market = MarketView(None, D("100.2"), D("100.1"))
    assert maker_price(make_config(), Side.BUY, market, None) == D("100.1")


@pytest.mark.parametrize(
    ("side", "slippage", "expected"),
    [(Side.BUY, D(20), D("100.4")),  # 100.2 * 1.002 = 100.4004, rounded down
     (Side.SELL, D(20), D("99.8")),  # 100.0 * 0.998 = 99.8
     (Side.BUY, D(7), D("100.2")),  # 100.27014 -> 100.2: never more slippage than allowed
     (Side.SELL, D(7), D("100.0")),  # 99.93 -> 100.0
     (Side.BUY, D(0), D("100.2"))],
)  # fmt: skip
def test_worst_price_rounds_towards_less_slippage(
    side: Side, slippage: Decimal, expected: Decimal
) -> None:
    assert worst_price(make_config(max_slippage_bps=slippage), side, MARKET) == expected
