"""The runner's picture of its working orders, bounded however many orders it ever placed.

`live`: orders that may rest (mirrors active Order rows); `filled`: size last reported per live
order; `cancelling`: cancels sent and not yet confirmed; `ended`: the last `ENDED_KEPT` orders
that left the book (a fill report may come after the order report that ended its order). An
order that ends leaves `live`, `filled` and `cancelling` at once, so the state per order is
bounded by the working orders plus `ENDED_KEPT`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from bots.models import Order
from bots.strategies.grid import LiveOrder, Side
from bots.strategies.orders import is_active

ENDED_KEPT = 256


def live_order(row: Order) -> LiveOrder:
    """The pure core's view of an Order row."""
    return LiveOrder(
        level=row.level_index,
        side=Side(row.side),
        price=row.price,
        size_base=row.size_base,
        client_order_index=row.client_order_index,
        status=row.status,
    )


@dataclass
class WorkingOrders:
    """Live, filled, cancelling and recently ended orders of one bot, by client order index."""

    live: dict[int, LiveOrder] = field(default_factory=dict)
    filled: dict[int, Decimal] = field(default_factory=dict)
    cancelling: set[int] = field(default_factory=set)
    ended: OrderedDict[int, LiveOrder] = field(default_factory=OrderedDict)
    # Ended orders whose end we asked for (a cancel of ours): their end is no surprise.
    ended_by_us: set[int] = field(default_factory=set)
    # When each live order's create, and each cancel, was last sent (monotonic seconds).
    sent_at: dict[int, float] = field(default_factory=dict)
    cancel_sent_at: dict[int, float] = field(default_factory=dict)

    def sent(self, creates: Iterable[int], cancels: Iterable[int], now: float) -> None:
        """A batch went out: note when, to check it was confirmed (`unconfirmed`)."""
        for index in creates:
            self.sent_at[index] = now
        for index in cancels:
            self.cancelling.add(index)
            self.cancel_sent_at[index] = now

    def accepted(self, creates: Iterable[int], cancels: Iterable[int], now: float) -> None:
        """The batch was accepted (its 200): its confirmation is awaited from now. A send that
        waited for budget was noted before the wait; counted from then, a cancel the exchange
        has not executed yet (standard accounts' 200 ms) would pass for one never executed."""
        for index in creates:
            if index in self.sent_at:
                self.sent_at[index] = now
        for index in cancels:
            if index in self.cancel_sent_at:
                self.cancel_sent_at[index] = now

    def unconfirmed(self, before: float) -> list[int]:
        """Orders sent before `before` that the exchange has not confirmed: creates still
        intent/pending, cancels of orders still live."""
        creates = [
            i
            for i, o in self.live.items()
            if o.status in ("intent", "pending") and self.sent_at.get(i, before) < before
        ]
        cancels = [i for i in self.cancelling if self.cancel_sent_at.get(i, before) < before]
        return creates + cancels

    def zombies(self, before: float) -> list[int]:
        """Cancels sent before `before` whose orders the exchange still lists as resting: the
        cancel was accepted but never executed. They are working again (so no second order is
        placed at their level) and the next plan cancels them again if still unwanted."""
        stale = [
            i
            for i in self.cancelling
            if i in self.live and self.cancel_sent_at.get(i, before) < before
        ]
        for index in stale:
            self.cancelling.discard(index)
            self.cancel_sent_at.pop(index, None)
        return stale

    def track(self, rows: Iterable[Order]) -> None:
        """Mirror Order rows (terminal rows leave the live set)."""
        for row in rows:
            index = row.client_order_index
            if is_active(row.status):
                self.live[index] = live_order(row)
                self.filled[index] = row.filled_base
            elif index in self.live:
                self.forget(index)
            else:
                self.cancelling.discard(index)

    def reset(self, rows: Iterable[Order]) -> None:
        """Replace the live set by `rows` (reconcile: the exchange is the truth)."""
        self.live = {}
        self.filled = {}
        self.track(rows)
        self.cancelling &= set(self.live)
        self.sent_at = {i: t for i, t in self.sent_at.items() if i in self.live}
        self.cancel_sent_at = {i: t for i, t in self.cancel_sent_at.items() if i in self.cancelling}

    def forget(self, index: int) -> None:
        """An order left the book: out of the live set, kept a while among the ended."""
        order = self.live.pop(index, None)
        self.filled.pop(index, None)
        self.sent_at.pop(index, None)
        self.cancel_sent_at.pop(index, None)
        if index in self.cancelling:
            self.cancelling.discard(index)
            self.ended_by_us.add(index)
        if order is not None:
            self.ended[index] = order
            while len(self.ended) > ENDED_KEPT:
                oldest, _ = self.ended.popitem(last=False)
                self.ended_by_us.discard(oldest)
        elif index not in self.ended:
            self.ended_by_us.discard(index)

    def expected_end(self, index: int) -> bool:
        """Whether the order's end was asked for by us (a cancel sent, confirmed or not)."""
        return index in self.cancelling or index in self.ended_by_us

    def owner(self, index: int) -> LiveOrder | None:
        """The order a report or fill with this client index belongs to, if it is ours."""
        return self.live.get(index) or self.ended.get(index)

    def working(self) -> list[LiveOrder]:
        """Live orders not being cancelled: what the strategy plans against."""
        return [o for i, o in self.live.items() if i not in self.cancelling]

    def held(self) -> int:
        """How many per-order entries are held (bounded; the tests check it)."""
        held = (self.live, self.filled, self.cancelling, self.ended, self.ended_by_us,
                self.sent_at, self.cancel_sent_at)  # fmt: skip
        return sum(len(part) for part in held)
