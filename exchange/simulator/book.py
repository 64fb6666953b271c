"""One market's order book: price levels with time priority (pure).

Each side maps price ticks to an insertion-ordered dict of resting orders (FIFO = time priority)
and keeps a sorted list of its prices, so the best level, insertion and removal are cheap.
Bid prices are stored negated so both sides sort best-first ascending.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

from exchange.simulator.types import Order


class BookSide:
    """One side of a book. `key(price)` orders levels best-first."""

    __slots__ = ("_keys", "is_ask", "level_size", "levels", "owner_lots")

    def __init__(self, *, is_ask: bool) -> None:
        self.is_ask = is_ask
        self.levels: dict[int, dict[int, Order]] = {}
        self.level_size: dict[int, int] = {}
        # Resting lots per owner, excluding reduce-only orders: the margin check reads this
        # instead of walking every order of the account.
        self.owner_lots: dict[int, int] = {}
        self._keys: list[int] = []

    def _tally(self, order: Order, lots: int) -> None:
        if not order.reduce_only:
            owner = order.owner_account_index
            self.owner_lots[owner] = self.owner_lots.get(owner, 0) + lots

    def _key(self, price: int) -> int:
        return price if self.is_ask else -price

    def __len__(self) -> int:
        return sum(len(level) for level in self.levels.values())

    def __bool__(self) -> bool:
        return bool(self._keys)

    def best_price(self) -> int | None:
        """Best price of this side, or None when empty."""
        if not self._keys:
            return None
        return self._keys[0] if self.is_ask else -self._keys[0]

    def best_order(self) -> Order | None:
        """Oldest order at the best price, or None when empty."""
        price = self.best_price()
        if price is None:
            return None
        return next(iter(self.levels[price].values()))

    def add(self, order: Order) -> None:
        """Rest `order` at the back of its price level."""
        level = self.levels.get(order.price)
        if level is None:
            level = self.levels[order.price] = {}
            self.level_size[order.price] = 0
            insort(self._keys, self._key(order.price))
        level[order.order_index] = order
        self.level_size[order.price] += order.remaining_base_amount
        self._tally(order, order.remaining_base_amount)

    def remove(self, order: Order) -> None:
        """Take `order` off the book (no-op if it is not resting)."""
        level = self.levels.get(order.price)
        if level is None or level.pop(order.order_index, None) is None:
            return
        self.level_size[order.price] -= order.remaining_base_amount
        self._tally(order, -order.remaining_base_amount)
        if not level:
            del self.levels[order.price]
            del self.level_size[order.price]
            keys = self._keys
            del keys[bisect_left(keys, self._key(order.price))]

    def reduce(self, order: Order, lots: int) -> None:
        """Account for `lots` of a resting order having traded or been trimmed."""
        self.level_size[order.price] -= lots
        self._tally(order, -lots)

    def depth(self, depth: int | None = None) -> list[tuple[int, int]]:
        """Aggregated [(price, size)] best first."""
        keys = self._keys if depth is None else self._keys[:depth]
        sizes = self.level_size
        if self.is_ask:
            return [(k, sizes[k]) for k in keys]
        return [(-k, sizes[-k]) for k in keys]

    def orders(self, limit: int | None = None) -> list[Order]:
        """Resting orders best first, time priority within a level."""
        out: list[Order] = []
        for order in self.iter_orders():
            if limit is not None and len(out) >= limit:
                break
            out.append(order)
        return out

    def iter_orders(self) -> Iterator[Order]:
        """Iterate resting orders best first (do not mutate the side while iterating)."""
        for key in self._keys:
            yield from self.levels[key if self.is_ask else -key].values()


class OrderBook:
    """Both sides of one market's book."""

    __slots__ = ("asks", "bids", "market_id")

    def __init__(self, market_id: int) -> None:
        self.market_id = market_id
        self.asks = BookSide(is_ask=True)
        self.bids = BookSide(is_ask=False)

    def side(self, *, is_ask: bool) -> BookSide:
        """The side resting orders with this `is_ask` live on."""
        return self.asks if is_ask else self.bids

    def add(self, order: Order) -> None:
        """Rest an order on its side."""
        self.side(is_ask=order.is_ask).add(order)

    def remove(self, order: Order) -> None:
        """Remove a resting order."""
        self.side(is_ask=order.is_ask).remove(order)

    def crosses(self, *, is_ask: bool, price: int) -> bool:
        """Would an order on side `is_ask` at `price` trade against the opposite side now?"""
        best = self.side(is_ask=not is_ask).best_price()
        if best is None:
            return False
        return price <= best if is_ask else price >= best

    def mid_price(self) -> int | None:
        """Integer mid of best bid and best ask (rounded down), None if a side is empty."""
        bid, ask = self.bids.best_price(), self.asks.best_price()
        if bid is None or ask is None:
            return None
        return (bid + ask) // 2

    def is_crossed(self) -> bool:
        """True if best bid >= best ask (never true after matching)."""
        bid, ask = self.bids.best_price(), self.asks.best_price()
        return bid is not None and ask is not None and bid >= ask
