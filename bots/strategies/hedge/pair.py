"""What the pair holds: each leg's position seen two ways, and each leg's books.

* *tracked* positions move with every `Filled` (exact and immediate): hedging follows them, so
  B owes `-(tracked A + tracked B)`: every fill of A, partial ones included, is owed to B at
  once, a hedge that executed only in part leaves the rest owed, and a late fill of a hedge given
  up on turns into a smaller correction instead of a double hedge.
* *exchange* positions come from `PositionSet` only: the truth, but the stream sends a position
  before the fills that made it, so the two views disagree for a moment after every fill. An
  imbalance is judged on the exchange's view, once the views have disagreed for a grace; then
  (and at start, and after a repair) the tracked positions take the exchange's.

The books are one `Ledger` per leg, fed the priced fills, so the pair's PnL is their sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from bots.strategies.accounting import Fill, Ledger
from bots.strategies.protocol import Filled

_ZERO = Decimal(0)


@dataclass
class PairBook:
    """Positions (tracked and reported) and books of legs A and B."""

    tracked_a: Decimal = _ZERO
    tracked_b: Decimal = _ZERO
    reported_a: Decimal | None = None
    reported_b: Decimal | None = None
    ledger_a: Ledger = field(default_factory=Ledger)
    ledger_b: Ledger = field(default_factory=Ledger)
    # Since when (runner ms) the two views have disagreed; None while they agree.
    mismatch_since: int | None = None
    _trade_ids: int = 0

    @property
    def known(self) -> bool:
        """Whether the exchange has reported both legs' positions."""
        return self.reported_a is not None and self.reported_b is not None

    @property
    def owed(self) -> Decimal:
        """What B must trade (signed) for the tracked pair to be flat."""
        return -(self.tracked_a + self.tracked_b)

    @property
    def position_a(self) -> Decimal:
        """A's position as the exchange reports it (tracked until it has)."""
        return self.tracked_a if self.reported_a is None else self.reported_a

    @property
    def position_b(self) -> Decimal:
        """B's position as the exchange reports it (tracked until it has)."""
        return self.tracked_b if self.reported_b is None else self.reported_b

    @property
    def net(self) -> Decimal:
        """position(A) + position(B) as the exchange reports them."""
        return self.position_a + self.position_b

    def filled(self, event: Filled, on_a: bool) -> None:
        """A fill of one leg: its tracked position moves, its books take it (when priced)."""
        signed = event.size_base * event.side.sign
        if on_a:
            self.tracked_a += signed
        else:
            self.tracked_b += signed
        if event.price is None or event.price <= 0:
            return  # nothing to value it with; the runner's own ledger has the priced fill
        self._trade_ids -= 1  # Filled has no trade id; negative ids never meet the exchange's
        fill = Fill(self._trade_ids, str(event.side), event.price, event.size_base, _ZERO,
                    on_a, event.level)  # fmt: skip
        (self.ledger_a if on_a else self.ledger_b).apply_fill(fill)

    def reported(self, size_base: Decimal, on_a: bool) -> None:
        """The exchange's position of one leg."""
        if on_a:
            self.reported_a = size_base
        else:
            self.reported_b = size_base

    def rebaseline(self) -> None:
        """The tracked positions take the exchange's (the truth, once settled)."""
        self.tracked_a, self.tracked_b = self.position_a, self.position_b
        self.mismatch_since = None

    def mismatch_lasted(self, now_ms: int, grace_ms: int) -> bool:
        """Whether the two views have disagreed for `grace_ms` (call it at the end of bursts
        only: within one, a position report and its fill arrive one after the other)."""
        if (self.tracked_a, self.tracked_b) == (self.position_a, self.position_b):
            self.mismatch_since = None
            return False
        if self.mismatch_since is None:
            self.mismatch_since = now_ms
        return now_ms - self.mismatch_since >= grace_ms

    def pnl(self, mark_price: Decimal) -> Decimal:
        """The pair's combined PnL at `mark_price` (gross of fees: `Filled` carries none)."""
        return self.ledger_a.summary(mark_price).total + self.ledger_b.summary(mark_price).total
