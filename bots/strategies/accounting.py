"""Pure PnL accounting of one bot: position, average entry, grid profit, fees and funding.

No I/O: fills and funding payments come in, in the order they happened, and a frozen
`PnlSummary` comes out. `Ledger` is the running fold (an in-memory accumulator, deterministic);
`summarize` folds a whole history at once.

How the numbers are defined:

* Realized PnL is average-cost, as the exchange computes it: a fill that reduces the position
  realizes `(exit - average entry) x size` (sign-adjusted for shorts); one that flips it closes the
  old position first and opens the rest at the fill price. Unrealized is `position x mark - cost`.
* Grid profit is the part of realized PnL earned by closed round trips: a buy at level `k` pairs
  with a sell at level `k+1` (either may come first: a sell then a buy one level down is a short
  round trip). Pairing is FIFO per level and may split fills; a pair earns
  `(sell price - buy price) x matched size`. Fills without a level never pair. A round trip is
  named by the trade id of the fill that opened it: `round_trip_of(trade_id)` is the round trip a
  grid fill closes (the first it closes when it closes several), else the one it opens.
* Other realized PnL is the rest, `realized - grid profit`: inventory gains and losses when the
  price trends and the average cost differs from the paired prices.
* `total = realized + unrealized - fees + funding`. Fees are positive when paid (negative for a
  rebate); funding is positive when received. Grid profit is gross of fees.

Precision: the cost released by a partial reduction, `cost x closed / position`, is rounded
half-even to 1e-18 quote (`COST_QUANTUM`), so realized PnL may differ from exact rational
arithmetic by at most 0.5e-18 per reducing fill, and is exact whenever the position returns to
zero. Everything else is exact.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal

COST_QUANTUM = Decimal("1e-18")
# Wide enough that sums and products of exchange-sized numbers are exact.
_CTX = Context(prec=60, rounding=ROUND_HALF_EVEN)
_ZERO = Decimal(0)
# Sides are the exchange's strings; `bots.strategies.grid.Side` members compare equal to them. The
# pure
# cores import nothing but the standard library, so this module does not import that enum.
BUY = "buy"
SELL = "sell"
_SIGN = {BUY: 1, SELL: -1}


@dataclass(frozen=True)
class Fill:
    """One trade of the bot: `side` is "buy" or "sell", `fee` is in quote, positive when paid."""

    trade_id: int
    side: str
    price: Decimal
    size_base: Decimal
    fee: Decimal
    is_maker: bool
    level: int | None

    def __post_init__(self) -> None:
        if self.side not in _SIGN:
            raise ValueError(f"side: must be 'buy' or 'sell', not {self.side!r}")
        for name in ("price", "size_base", "fee"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise ValueError(f"{name}: must be a finite Decimal")
        if self.price <= 0:
            raise ValueError("price: must be greater than zero")
        if self.size_base <= 0:
            raise ValueError("size_base: must be greater than zero")


@dataclass(frozen=True)
class Transfer:
    """A position handed to (positive `size_base` long / negative short) or taken from the bot
    by an operator's *adopt* (design.md "Ownership"), booked at `price` like a fill without fee
    or level: adopting opens at `price`; handing a position over realizes it at `price`."""

    transfer_id: int
    size_base: Decimal
    price: Decimal

    def __post_init__(self) -> None:
        for name in ("price", "size_base"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise ValueError(f"{name}: must be a finite Decimal")
        if self.price <= 0:
            raise ValueError("price: must be greater than zero")
        if self.size_base == 0:
            raise ValueError("size_base: must not be zero")


@dataclass(frozen=True)
class FundingPayment:
    """One funding settlement on the bot's position; `amount` in quote, positive when received."""

    funding_id: int
    amount: Decimal

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise ValueError("amount: must be a finite Decimal")


@dataclass(frozen=True)
class PnlSummary:
    """The bot's books at one mark price. All amounts in quote except `position_base`."""

    position_base: Decimal
    avg_entry_price: Decimal | None
    mark_price: Decimal
    realized: Decimal
    grid_profit: Decimal
    other_realized: Decimal
    unrealized: Decimal
    fees: Decimal
    funding: Decimal
    total: Decimal
    round_trips: int
    fill_count: int


@dataclass
class _Lot:
    """The unpaired remainder of a grid fill, waiting for its partner one level away."""

    price: Decimal
    size_base: Decimal
    round_trip: int


class Ledger:
    """Running books of one bot, fed fills and funding in the order they happened.

    Applying a fill or payment whose id was already applied changes nothing, so replaying a
    stream after a reconnect or a restart is safe.
    """

    def __init__(self) -> None:
        self.position_base = _ZERO
        # Signed entry cost of the open position: positive when long, negative when short.
        self.cost_quote = _ZERO
        self.realized = _ZERO
        self.grid_profit = _ZERO
        self.fees = _ZERO
        self.funding = _ZERO
        self.round_trips = 0
        self._trade_ids: set[int] = set()
        self._funding_ids: set[int] = set()
        self._transfer_ids: set[int] = set()
        self._open_lots: dict[tuple[str, int], deque[_Lot]] = {}
        self._round_trips: dict[int, int] = {}

    def apply_fill(self, fill: Fill) -> bool:
        """Book one fill; False (and no change) when its trade id was already booked."""
        if fill.trade_id in self._trade_ids:
            return False
        self._trade_ids.add(fill.trade_id)
        self.fees = _CTX.add(self.fees, fill.fee)
        self._book_average_cost(_SIGN[fill.side] * fill.size_base, fill.price)
        if fill.level is not None:
            self._pair(fill, fill.level)
        return True

    def apply_transfer(self, transfer: Transfer) -> bool:
        """Book an adoption or hand-over; False (and no change) when its id was already booked."""
        if transfer.transfer_id in self._transfer_ids:
            return False
        self._transfer_ids.add(transfer.transfer_id)
        self._book_average_cost(transfer.size_base, transfer.price)
        return True

    def has_fill(self, trade_id: int) -> bool:
        """Whether the fill with this trade id is booked."""
        return trade_id in self._trade_ids

    def round_trip_of(self, trade_id: int) -> int | None:
        """The round trip a booked grid fill belongs to (None for fills without a level)."""
        return self._round_trips.get(trade_id)

    def apply_funding(self, payment: FundingPayment) -> bool:
        """Book one funding payment; False (and no change) when its id was already booked."""
        if payment.funding_id in self._funding_ids:
            return False
        self._funding_ids.add(payment.funding_id)
        self.funding = _CTX.add(self.funding, payment.amount)
        return True

    def summary(self, mark_price: Decimal) -> PnlSummary:
        """The books valued at `mark_price`."""
        if mark_price <= 0:
            raise ValueError("mark_price: must be greater than zero")
        unrealized = _CTX.subtract(_CTX.multiply(self.position_base, mark_price), self.cost_quote)
        avg_entry = None
        if self.position_base != 0:
            avg_entry = Context(prec=28).divide(self.cost_quote, self.position_base)
        total = _CTX.add(
            _CTX.subtract(_CTX.add(self.realized, unrealized), self.fees), self.funding
        )
        return PnlSummary(
            position_base=self.position_base,
            avg_entry_price=avg_entry,
            mark_price=mark_price,
            realized=self.realized,
            grid_profit=self.grid_profit,
            other_realized=_CTX.subtract(self.realized, self.grid_profit),
            unrealized=unrealized,
            fees=self.fees,
            funding=self.funding,
            total=total,
            round_trips=self.round_trips,
            fill_count=len(self._trade_ids),
        )

    def _book_average_cost(self, signed_size: Decimal, price: Decimal) -> None:
        position = self.position_base
        if position == 0 or (position > 0) == (signed_size > 0):
            self._open(signed_size, price)
            return
        closing = min(abs(signed_size), abs(position))
        direction = 1 if position > 0 else -1
        if closing == abs(position):
            released = self.cost_quote  # a full close releases the cost exactly
        else:
            share = _CTX.divide(_CTX.multiply(self.cost_quote, closing), abs(position))
            released = share.quantize(COST_QUANTUM, context=_CTX)
        proceeds = _CTX.multiply(direction * closing, price)
        self.realized = _CTX.add(self.realized, _CTX.subtract(proceeds, released))
        self.cost_quote = _CTX.subtract(self.cost_quote, released)
        self.position_base = _CTX.subtract(position, direction * closing)
        rest = abs(signed_size) - closing
        if rest > 0:  # the fill flipped the position: the rest opens at the fill price
            self._open(-direction * rest, price)

    def _open(self, signed_size: Decimal, price: Decimal) -> None:
        self.cost_quote = _CTX.add(self.cost_quote, _CTX.multiply(signed_size, price))
        self.position_base = _CTX.add(self.position_base, signed_size)

    def _pair(self, fill: Fill, level: int) -> None:
        # A buy at k closes a sell resting at k+1, a sell at k closes a buy at k-1.
        buying = fill.side == BUY
        partner = (SELL, level + 1) if buying else (BUY, level - 1)
        waiting = self._open_lots.get(partner)
        remaining = fill.size_base
        self._round_trips[fill.trade_id] = waiting[0].round_trip if waiting else fill.trade_id
        while waiting and remaining > 0:
            lot = waiting[0]
            matched = min(lot.size_base, remaining)
            buy, sell = (fill.price, lot.price) if buying else (lot.price, fill.price)
            self.grid_profit = _CTX.add(
                self.grid_profit, _CTX.multiply(_CTX.subtract(sell, buy), matched)
            )
            self.round_trips += 1
            remaining -= matched
            lot.size_base -= matched
            if lot.size_base == 0:
                waiting.popleft()
        if remaining > 0:
            own = self._open_lots.setdefault((BUY if buying else SELL, level), deque())
            own.append(_Lot(fill.price, remaining, fill.trade_id))


def summarize(
    fills: Iterable[Fill], fundings: Iterable[FundingPayment], mark_price: Decimal
) -> PnlSummary:
    """Books of a whole history (fills in the order they happened) at `mark_price`."""
    ledger = Ledger()
    for fill in fills:
        ledger.apply_fill(fill)
    for payment in fundings:
        ledger.apply_funding(payment)
    return ledger.summary(mark_price)
