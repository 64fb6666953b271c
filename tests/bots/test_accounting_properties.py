"""Hypothesis properties of the accounting against an independent average-cost reference.

The reference below uses exact rationals (`Fraction`) and the textbook average-entry-price
formulation, so it shares neither the arithmetic nor the bookkeeping of
`bots.strategies.accounting`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from bots.strategies.accounting import COST_QUANTUM, Fill, FundingPayment, Ledger, summarize
from bots.strategies.grid import Side

PROPERTY = settings(deadline=None, max_examples=200)
prices = st.decimals("0.01", "100000", places=2)
sizes = st.integers(1, 5000).map(lambda lots: lots * Decimal("0.001"))
fees = st.decimals("-1", "1", places=6)
levels = st.none() | st.integers(-5, 5)


@st.composite
def histories(draw: st.DrawFn, max_fills: int = 40) -> list[Fill]:
    """Any sequence of fills with distinct trade ids: trends, flips, partials, foreign fills."""
    count = draw(st.integers(0, max_fills))
    return [
        Fill(
            trade_id,
            draw(st.sampled_from([Side.BUY, Side.SELL, "buy", "sell"])),
            draw(prices),
            draw(sizes),
            draw(fees),
            draw(st.booleans()),
            draw(levels),
        )
        for trade_id in range(1, count + 1)
    ]


def reference(fills: Sequence[Fill], mark: Decimal) -> tuple[Fraction, Fraction, Fraction]:
    """Average-cost (position, realized, unrealized) in exact rationals."""
    position = Fraction(0)  # signed
    entry = Fraction(0)  # average entry price of the open position
    realized = Fraction(0)
    for fill in fills:
        signed = Fraction(Side(fill.side).sign) * Fraction(fill.size_base)
        price = Fraction(fill.price)
        if position == 0 or (position > 0) == (signed > 0):
            entry = (abs(position) * entry + abs(signed) * price) / (abs(position) + abs(signed))
            position += signed
            continue
        closed = min(abs(signed), abs(position))
        direction = 1 if position > 0 else -1
        realized += direction * closed * (price - entry)
        position += signed
        if position == 0:
            entry = Fraction(0)
        elif (position > 0) != (direction > 0):  # flipped: the rest was opened at this price
            entry = price
    return position, realized, position * (Fraction(mark) - entry)


def tolerance(fills: Sequence[Fill]) -> Fraction:
    """Half a cost quantum of rounding per fill (only reducing fills round)."""
    return Fraction(COST_QUANTUM) * len(fills)


@PROPERTY
@given(histories(), prices)
def test_grid_profit_plus_other_realized_is_average_cost_realized(
    fills: list[Fill], mark: Decimal
) -> None:
    books = summarize(fills, [], mark)
    position, realized, _ = reference(fills, mark)
    assert books.grid_profit + books.other_realized == books.realized
    assert abs(Fraction(books.realized) - realized) <= tolerance(fills)
    assert books.position_base == position


@PROPERTY
@given(histories(), prices)
def test_unrealized_matches_average_cost_at_the_mark(fills: list[Fill], mark: Decimal) -> None:
    books = summarize(fills, [], mark)
    _, _, unrealized = reference(fills, mark)
    assert abs(Fraction(books.unrealized) - unrealized) <= tolerance(fills)


@PROPERTY
@given(histories(), st.lists(st.decimals("-50", "50", places=6), max_size=10), prices)
def test_total_is_realized_plus_unrealized_minus_fees_plus_funding(
    fills: list[Fill], amounts: list[Decimal], mark: Decimal
) -> None:
    funding = [FundingPayment(i, amount) for i, amount in enumerate(amounts)]
    books = summarize(fills, funding, mark)
    assert books.fees == sum((f.fee for f in fills), Decimal(0))
    assert books.funding == sum(amounts, Decimal(0))
    assert books.total == books.realized + books.unrealized - books.fees + books.funding


@PROPERTY
@given(histories(), prices)
def test_a_history_that_ends_flat_realizes_exactly_proceeds_minus_costs(
    fills: list[Fill], close_price: Decimal
) -> None:
    position = sum((Side(f.side).sign * f.size_base for f in fills), Decimal(0))
    if position != 0:
        side = Side.SELL if position > 0 else Side.BUY
        fills = [
            *fills,
            Fill(len(fills) + 1, side, close_price, abs(position), Decimal(0), False, None),
        ]
    books = summarize(fills, [], close_price)
    cash = sum((-Side(f.side).sign * f.price * f.size_base for f in fills), Decimal(0))
    assert books.position_base == 0 and books.unrealized == 0
    assert books.realized == cash


@PROPERTY
@given(
    st.lists(st.tuples(st.integers(-5, 5), sizes), min_size=1, max_size=20),
    st.randoms(use_true_random=False),
)
def test_complete_round_trips_are_all_grid_profit(
    trips: list[tuple[int, Decimal]], shuffler: Random
) -> None:
    ladder = {k: Decimal(2000) + 10 * k for k in range(-5, 7)}
    legs = []
    for level, size in trips:
        legs.append((Side.BUY, level, size))
        legs.append((Side.SELL, level + 1, size))
    shuffler.shuffle(legs)
    fills = [
        Fill(i, side, ladder[level], size, Decimal(0), True, level)
        for i, (side, level, size) in enumerate(legs)
    ]
    books = summarize(fills, [], Decimal(2000))
    assert books.grid_profit == sum((10 * size for _, size in trips), Decimal(0))
    assert books.other_realized == 0


@PROPERTY
@given(histories(), st.data())
def test_replaying_fills_and_funding_changes_nothing(
    fills: list[Fill], data: st.DataObject
) -> None:
    ledger = Ledger()
    for fill in fills:
        ledger.apply_fill(fill)
    ledger.apply_funding(FundingPayment(1, Decimal("0.25")))
    before = ledger.summary(Decimal(100))
    replayed = data.draw(st.lists(st.sampled_from(fills))) if fills else []
    assert not any([ledger.apply_fill(fill) for fill in replayed])
    assert not ledger.apply_funding(FundingPayment(1, Decimal("0.25")))
    assert ledger.summary(Decimal(100)) == before
