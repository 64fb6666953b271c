"""Table-driven unit tests of the pure accounting (bots/accounting.py)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from bots.strategies.accounting import Fill, FundingPayment, Ledger, summarize
from bots.strategies.grid import Side

BUY, SELL = Side.BUY, Side.SELL


def fill(
    trade_id: int,
    side: Side,
    price: str,
    size: str,
    level: int | None = None,
    fee: str = "0",
) -> Fill:
    return Fill(trade_id, side, D(price), D(size), D(fee), True, level)


def test_buy_then_sell_one_level_up_is_grid_profit() -> None:
    books = summarize(
        [fill(1, BUY, "1990", "0.5", -1), fill(2, SELL, "2000", "0.5", 0)], [], D("1")
    )
    assert (books.grid_profit, books.other_realized, books.round_trips) == (D("5.0"), D(0), 1)
    assert books.position_base == 0 and books.avg_entry_price is None


def test_sell_then_buy_one_level_down_is_a_short_round_trip() -> None:
    books = summarize([fill(1, SELL, "2010", "1", 1), fill(2, BUY, "2000", "1", 0)], [], D("1"))
    assert (books.grid_profit, books.realized) == (D("10"), D("10"))


def test_pairing_is_fifo_within_a_level() -> None:
    fills = [
        fill(1, BUY, "100", "1", 0),
        fill(2, BUY, "101", "1", 0),  # same level after a re-anchor: a different price
        fill(3, SELL, "110", "1.5", 1),
    ]
    books = summarize(fills, [], D("110"))
    assert books.grid_profit == D("10") + D("0.5") * D("9")
    assert books.round_trips == 2


def test_a_round_trip_is_named_by_its_opening_fill() -> None:
    ledger = Ledger()
    fills = [
        fill(1, BUY, "100", "1", 0),  # opens round trip 1
        fill(2, BUY, "95", "1", -1),  # opens round trip 2
        fill(3, SELL, "105", "1.5", 1),  # closes 1 (the rest opens nothing it could close)
        fill(4, SELL, "100", "1", 0),  # closes 2
        fill(5, SELL, "101", "1", None),  # no level: no round trip
    ]
    for f in fills:
        ledger.apply_fill(f)
    assert [ledger.round_trip_of(f.trade_id) for f in fills] == [1, 2, 1, 2, None]
    assert ledger.round_trip_of(99) is None


@pytest.mark.parametrize(
    ("fills", "position", "avg_entry", "realized", "grid_profit"),
    [
        # Average cost: two buys average to 105; the sell realizes 120 - 105.
        (
            [
                fill(1, BUY, "100", "1", 0),
                fill(2, BUY, "110", "1", 1),
                fill(3, SELL, "120", "1", 2),
            ],
            D("1"),
            D("105"),
            D("15"),
            D("10"),  # the buy at level 1 pairs with the sell at level 2
        ),
        # A flip closes the long at 110 and opens a 2 short at 110.
        ([fill(1, BUY, "100", "1"), fill(2, SELL, "110", "3")], D("-2"), D("110"), D("10"), 0),
        # Short then partial cover: realizes (avg entry - exit) x size.
        (
            [fill(1, SELL, "200", "2"), fill(2, SELL, "210", "2"), fill(3, BUY, "190", "1")],
            D("-3"),
            D("205"),
            D("15"),
            0,
        ),
        # A sell two levels above the buy is not a grid round trip.
        ([fill(1, BUY, "100", "1", 0), fill(2, SELL, "120", "1", 2)], 0, None, D("20"), 0),
        # Fills without a level never pair.
        ([fill(1, BUY, "100", "1"), fill(2, SELL, "110", "1")], 0, None, D("10"), 0),
    ],
)
def test_average_cost_position_and_realized(
    fills: list[Fill], position: D, avg_entry: D | None, realized: D, grid_profit: D
) -> None:
    books = summarize(fills, [], D("100"))
    assert (books.position_base, books.avg_entry_price) == (position, avg_entry)
    assert (books.realized, books.grid_profit) == (realized, grid_profit)
    assert books.other_realized == realized - grid_profit


def test_unrealized_is_position_times_mark_minus_cost() -> None:
    books = summarize([fill(1, BUY, "100", "1"), fill(2, BUY, "110", "1")], [], D("130"))
    assert books.unrealized == D("50")
    short = summarize([fill(1, SELL, "100", "2")], [], D("90"))
    assert short.unrealized == D("20")


def test_total_is_realized_plus_unrealized_minus_fees_plus_funding() -> None:
    fills = [
        fill(1, BUY, "100", "1", 0, fee="0.04"),
        fill(2, SELL, "110", "1", 1, fee="-0.01"),  # a maker rebate
        fill(3, BUY, "105", "2", fee="0.03"),
    ]
    funding = [FundingPayment(1, D("-0.50")), FundingPayment(2, D("0.20"))]
    books = summarize(fills, funding, D("106"))
    assert (books.fees, books.funding) == (D("0.06"), D("-0.30"))
    assert books.total == D("10") + D("2") - D("0.06") - D("0.30")


def test_reapplying_a_trade_id_changes_nothing() -> None:
    ledger = Ledger()
    first = fill(7, BUY, "100", "1", 0, fee="0.1")
    assert ledger.apply_fill(first)
    before = ledger.summary(D("101"))
    assert not ledger.apply_fill(first)
    assert not ledger.apply_fill(fill(7, SELL, "999", "5", 1))
    assert ledger.summary(D("101")) == before


def test_reapplying_a_funding_id_changes_nothing() -> None:
    ledger = Ledger()
    assert ledger.apply_funding(FundingPayment(3, D("1.5")))
    assert not ledger.apply_funding(FundingPayment(3, D("1.5")))
    assert ledger.summary(D("1")).funding == D("1.5")


def test_a_partial_reduction_keeps_the_average_entry() -> None:
    books = summarize(
        [fill(1, BUY, "100", "3"), fill(2, BUY, "101", "3"), fill(3, SELL, "90", "2")], [], D("1")
    )
    assert books.avg_entry_price == D("100.5")
    assert books.realized == D("-21")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"price": D("0")}, "price"),
        ({"size_base": D("-1")}, "size_base"),
        ({"fee": 0.1}, "fee"),
        ({"side": "long"}, "side"),
        ({"price": D("Infinity")}, "price"),
    ],
)
def test_invalid_fill_raises_value_error_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    values: dict[str, Any] = {
        "trade_id": 1,
        "side": BUY,
        "price": D("100"),
        "size_base": D("1"),
        "fee": D("0"),
        "is_maker": True,
        "level": 0,
    }
    with pytest.raises(ValueError, match=rf"^{field}:"):
        Fill(**(values | changes))


def test_summary_rejects_a_non_positive_mark() -> None:
    with pytest.raises(ValueError, match=r"^mark_price:"):
        Ledger().summary(D("0"))


def test_plain_side_strings_and_grid_sides_book_the_same() -> None:
    as_enum = summarize([fill(1, BUY, "100", "1", 0), fill(2, SELL, "110", "1", 1)], [], D("1"))
    as_text = [
        Fill(1, "buy", D("100"), D("1"), D("0"), True, 0),
        Fill(2, "sell", D("110"), D("1"), D("0"), True, 1),
    ]
    assert summarize(as_text, [], D("1")) == as_enum
