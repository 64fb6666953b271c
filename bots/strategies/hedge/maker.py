"""What the hedge strategy knows of leg A's maker orders: the one resting, the ones being cancelled.

The rule it serves: never two A orders. A new order goes out only when none of ours rests and
every cancel we asked for is confirmed: by `OrderEnded`, or by fills that complete the order (a
cancel crossing the last fill ends the order as filled, with no `OrderEnded`). The working orders
of each `Decide` are the runner's truth; orders we cancel leave them at once (the runner hides
orders being cancelled), so an order of ours we are cancelling that shows up again means the
runner dropped our cancel, and it is asked for again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from bots.strategies.grid.config import Side
from bots.strategies.grid.plan import DesiredOrder, LiveOrder
from bots.strategies.protocol import Cancel, Leg, Place

_ZERO = Decimal(0)


@dataclass
class MakerOrders:
    """A's orders as the strategy knows them (all by client order index)."""

    resting: LiveOrder | None = None
    # When the resting order was asked for (or first seen, for an adopted one): its timeout.
    placed_ms: int | None = None
    # A Place went out and no `Decide` of A has shown the order yet.
    placing: bool = False
    placing_ms: int = 0
    # Cancels asked for and not confirmed: client index -> when the cancel was (last) sent.
    cancelling: dict[int, int] = field(default_factory=dict)
    # Sizes of the orders being cancelled, and fills seen per order (to see a fill complete one).
    sizes: dict[int, Decimal] = field(default_factory=dict)
    # Side and price of the orders being cancelled: until confirmed they may still trade.
    quotes: dict[int, tuple[Side, Decimal]] = field(default_factory=dict)
    filled: dict[int, Decimal] = field(default_factory=dict)
    # Set by `observe`: more orders of ours than the one kept, and cancels the runner dropped.
    extra: list[LiveOrder] = field(default_factory=list)
    recancel: list[int] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        """Whether A has an order that may still rest or trade (placed, resting, cancelling)."""
        return self.resting is not None or self.placing or bool(self.cancelling)

    def knows(self, index: int | None) -> bool:
        """Whether `index` is one of A's maker orders we know of (resting or being cancelled)."""
        if index is None:
            return False
        resting = self.resting is not None and self.resting.client_order_index == index
        return resting or index in self.cancelling or index in self.filled

    def observe(self, working: Sequence[LiveOrder], now_ms: int) -> None:
        """Take in the working orders of a `Decide` of leg A (orders with no level are not ours:
        left alone). The oldest active order of ours rests; any other is `extra`."""
        ours = sorted(
            (o for o in working if o.level is not None and o.is_active),
            key=lambda o: o.client_order_index,
        )
        self.recancel = [
            o.client_order_index for o in ours if o.client_order_index in self.cancelling
        ]
        ours = [o for o in ours if o.client_order_index not in self.cancelling]
        first = ours[0] if ours else None
        self.extra = ours[1:]
        if first is None:
            self.resting, self.placed_ms = None, None
        elif self.resting is None or self.resting.client_order_index != first.client_order_index:
            self.placed_ms = self.placing_ms if self.placing else now_ms
            self.resting = first
        else:
            self.resting = first
        self.placing = False
        keep = {o.client_order_index for o in ours} | set(self.cancelling)
        self.filled = {i: size for i, size in self.filled.items() if i in keep}

    def housekeeping(
        self, leg: Leg, now_ms: int, timeout_ms: int, wanted: Side | None
    ) -> list[Cancel]:
        """The cancels due whatever comes next: again for a cancel the runner dropped or that no
        end confirmed within `timeout_ms`; every order of ours beyond the one resting; the
        resting one when its side is not `wanted` (None: A should have no order)."""
        cancels: list[Cancel] = []
        for index, sent in list(self.cancelling.items()):
            if index in self.recancel or now_ms - sent >= timeout_ms:
                self.cancelling[index] = now_ms
                cancels.append(Cancel(leg, index))
        cancels += [self.cancel(leg, order, now_ms) for order in self.extra]
        self.extra, self.recancel = [], []
        if self.resting is not None and self.resting.side is not wanted:
            cancels.append(self.cancel(leg, self.resting, now_ms))
        return cancels

    def within_reach(self, side: Side, worst_price: Decimal) -> bool:
        """Whether an order of ours that rests, or is being cancelled and may still rest, could
        trade with a market order on `side` whose worst price is `worst_price` (A's order on the
        other side, at a price that order would accept)."""
        quotes = list(self.quotes.values())
        if self.resting is not None:
            quotes.append((self.resting.side, self.resting.price))
        return any(_reaches(side, worst_price, q_side, price) for q_side, price in quotes)

    def timed_out(self, now_ms: int, timeout_ms: int) -> LiveOrder | None:
        """The resting order, when it has rested `timeout_ms` since it was asked for."""
        placed = self.placed_ms
        return self.resting if placed is not None and now_ms - placed >= timeout_ms else None

    def place(self, leg: Leg, order: DesiredOrder, now_ms: int) -> Place:
        """A Place goes out (the next `Decide` of A shows the order)."""
        self.placing, self.placing_ms, self.placed_ms = True, now_ms, now_ms
        return Place(leg, order)

    def cancel(self, leg: Leg, order: LiveOrder, now_ms: int) -> Cancel:
        """A Cancel of `order` goes out: it stops resting for us until its end is confirmed."""
        index = order.client_order_index
        self.cancelling[index] = now_ms
        self.sizes[index] = order.size_base
        self.quotes[index] = (order.side, order.price)
        if self.resting is not None and self.resting.client_order_index == index:
            self.resting, self.placed_ms = None, None
        return Cancel(leg, index)

    def on_fill(self, index: int | None, size_base: Decimal) -> None:
        """A fill of A: an order filled in full has ended (its cancel, if any, is confirmed)."""
        if index is None:
            return
        total = self.filled.get(index, _ZERO) + size_base
        self.filled[index] = total
        resting = self.resting
        if resting is not None and resting.client_order_index == index:
            if total >= resting.size_base:
                self._ended(index)
        elif index in self.cancelling and total >= self.sizes.get(index, total + 1):
            self._ended(index)

    def on_ended(self, index: int) -> None:
        """The order left the book without filling in full (our cancel confirmed, or not ours)."""
        self._ended(index)

    def _ended(self, index: int) -> None:
        self.cancelling.pop(index, None)
        self.sizes.pop(index, None)
        self.quotes.pop(index, None)
        self.filled.pop(index, None)
        if self.resting is not None and self.resting.client_order_index == index:
            self.resting, self.placed_ms = None, None


def _reaches(side: Side, worst_price: Decimal, resting_side: Side, resting_price: Decimal) -> bool:
    """Whether a market order on `side` down to `worst_price` trades with a resting order."""
    if resting_side is side:
        return False
    return resting_price <= worst_price if side is Side.BUY else resting_price >= worst_price
