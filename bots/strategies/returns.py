"""Pure returns of a grid bot and of an account: capital in use, ROI, APR, round trips, drawdown.

No I/O: the books (`accounting.PnlSummary`), the resting orders, the margin fraction, the time
span and the stored PnL totals come in; a frozen `Returns` comes out. The README's "Returns"
table defines every figure; in short (amounts in quote, USDC on Lighter):

* initial margin fraction `imf = max(1 / leverage, 1 / max_leverage)` (the market's minimum
  initial margin when its maximum leverage is known);
* capital in use `capital = imf x (sum over resting orders of price x remaining size
  + |position| x mark)`: every resting order counts on both sides (an upper bound: the venue
  nets the orders that would reduce the position);
* `roi = total / capital` (None while no capital is in use), `apr = roi x 365 / days` (simple,
  not compounded), `days` from the bot's start to its end (now, or its stop);
* round trips: count, `average = grid profit / count` (gross of fees), `per day = grid profit /
  days`;
* APR and profit per day are None until `MIN_DAYS_FOR_RATES` (one day) has passed;
* `max_drawdown`: the largest fall of total PnL from an earlier peak over the stored snapshots
  and the current total; never negative.

An account sums its bots' amounts and round trips; its ROI and APR come from the sums (not an
average of ratios), its days from its earliest bot start, its drawdown from its summed snapshots.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal

from bots.strategies.accounting import PnlSummary

_CTX = Context(prec=60, rounding=ROUND_HALF_EVEN)
_DIV = Context(prec=28, rounding=ROUND_HALF_EVEN)
_ZERO = Decimal(0)
_ONE = Decimal(1)
DAYS_PER_YEAR = Decimal(365)
# APR and profit per day are extrapolations: before a day has passed they would read 781201 %
# for a few cents in a few minutes, so they are unknown (None) until then.
MIN_DAYS_FOR_RATES = Decimal(1)
_MICROSECONDS_PER_DAY = Decimal(86_400_000_000)


@dataclass(frozen=True)
class Capital:
    """Initial margin a bot ties up, in quote: its resting orders' and its position's."""

    orders: Decimal
    position: Decimal

    @property
    def total(self) -> Decimal:
        return _CTX.add(self.orders, self.position)


@dataclass(frozen=True)
class Returns:
    """A bot's (or an account's) returns. Amounts in quote; `roi` and `apr` are fractions
    (0.05 = 5 %); `days` is the span they are measured over."""

    capital_orders: Decimal
    capital_position: Decimal
    capital: Decimal
    total: Decimal
    realized: Decimal
    grid_profit: Decimal
    other_realized: Decimal
    unrealized: Decimal
    fees: Decimal
    funding: Decimal
    roi: Decimal | None
    apr: Decimal | None
    days: Decimal
    round_trips: int
    round_trip_avg_profit: Decimal | None
    round_trip_profit_per_day: Decimal | None
    max_drawdown: Decimal


def initial_margin_fraction(leverage: Decimal, max_leverage: Decimal | None = None) -> Decimal:
    """The share of a notional held as initial margin at `leverage`, never below the market's
    minimum `1 / max_leverage`."""
    if not leverage.is_finite() or leverage < _ONE:
        raise ValueError("leverage: must be at least 1")
    fraction = _DIV.divide(_ONE, leverage)
    if max_leverage is not None and max_leverage > 0:
        fraction = max(fraction, _DIV.divide(_ONE, max_leverage))
    return fraction


def capital_in_use(
    resting: Iterable[tuple[Decimal, Decimal]],
    position_base: Decimal,
    mark: Decimal,
    margin_fraction: Decimal,
) -> Capital:
    """Initial margin of the resting orders (`(price, remaining size)` pairs) and of the
    position valued at `mark`."""
    notional = _ZERO
    for price, remaining in resting:
        if price <= 0 or remaining < 0:
            raise ValueError("resting orders: price must be > 0 and remaining size >= 0")
        notional = _CTX.add(notional, _CTX.multiply(price, remaining))
    position = _CTX.multiply(abs(position_base), mark)
    return Capital(
        orders=_CTX.multiply(notional, margin_fraction),
        position=_CTX.multiply(position, margin_fraction),
    )


def days_of(microseconds: int) -> Decimal:
    """A span given in whole microseconds (`timedelta // timedelta(microseconds=1)`) in days;
    0 for a negative span."""
    return _DIV.divide(Decimal(max(microseconds, 0)), _MICROSECONDS_PER_DAY)


def max_drawdown(totals: Iterable[Decimal]) -> Decimal:
    """The largest fall from a running peak to a later value, in the values' unit; 0 for an
    empty or never falling series."""
    peak: Decimal | None = None
    worst = _ZERO
    for value in totals:
        if peak is None or value > peak:
            peak = value
        worst = max(worst, _CTX.subtract(peak, value))
    return worst


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    return _DIV.divide(numerator, denominator) if denominator > 0 else None


def _returns(
    capital: Capital,
    amounts: tuple[Decimal, Decimal, Decimal, Decimal, Decimal, Decimal, Decimal],
    round_trips: int,
    days: Decimal,
    totals: Iterable[Decimal],
) -> Returns:
    total, realized, grid_profit, other_realized, unrealized, fees, funding = amounts
    roi = _ratio(total, capital.total)
    rated = days >= MIN_DAYS_FOR_RATES
    apr = (
        _DIV.divide(_DIV.multiply(roi, DAYS_PER_YEAR), days) if roi is not None and rated else None
    )
    return Returns(
        capital_orders=capital.orders,
        capital_position=capital.position,
        capital=capital.total,
        total=total,
        realized=realized,
        grid_profit=grid_profit,
        other_realized=other_realized,
        unrealized=unrealized,
        fees=fees,
        funding=funding,
        roi=roi,
        apr=apr,
        days=days,
        round_trips=round_trips,
        round_trip_avg_profit=_ratio(grid_profit, Decimal(round_trips)),
        round_trip_profit_per_day=_ratio(grid_profit, days) if rated else None,
        max_drawdown=max_drawdown([*totals, total]),
    )


def bot_returns(
    summary: PnlSummary, capital: Capital, days: Decimal, totals: Iterable[Decimal] = ()
) -> Returns:
    """A bot's returns from its books, the capital it ties up, the days since its start and
    its stored PnL totals (oldest first; the current total is appended)."""
    amounts = (
        summary.total,
        summary.realized,
        summary.grid_profit,
        summary.other_realized,
        summary.unrealized,
        summary.fees,
        summary.funding,
    )
    return _returns(capital, amounts, summary.round_trips, days, totals)


def account_returns(
    bots: Sequence[Returns], days: Decimal, totals: Iterable[Decimal] = ()
) -> Returns:
    """An account's returns: its bots' amounts and round trips summed, ROI and APR of the
    sums, over `days` since its earliest bot start, drawdown over its summed totals."""

    def summed(name: str) -> Decimal:
        return sum((getattr(r, name) for r in bots), _ZERO)

    capital = Capital(orders=summed("capital_orders"), position=summed("capital_position"))
    names = ("total", "realized", "grid_profit", "other_realized", "unrealized", "fees", "funding")
    total, realized, grid, other, unrealized, fees, funding = (summed(name) for name in names)
    round_trips = sum(bot.round_trips for bot in bots)
    amounts = (total, realized, grid, other, unrealized, fees, funding)
    return _returns(capital, amounts, round_trips, days, totals)
