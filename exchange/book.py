"""Order-book replica of one market, fed by the `order_book/{market}` stream; also the price cache.

Lighter sends a full snapshot on subscribe, then only changed levels (size 0 = level removed).
Continuity rule (lighter-api.md §7.2): an update's `begin_nonce` equals the previous frame's
`nonce`. A replica that sees a gap stops claiming to be in sync, and the stream resubscribes to get
a fresh snapshot. Levels are keyed by `Decimal` value, so "2325.0" and "2325.00" are one level
(the SDK's string matching is not).

The replica knows its own age (monotonic time of the last applied frame) so callers can refuse to
price orders from stale data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from exchange.types import BookLevel, BookTop, OrderBook


class BookReplica:
    """Live replica of one market's book, best bid/ask, mid, depth and age."""

    def __init__(self, market_id: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.market_id = market_id
        self._clock = clock
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self.nonce: int | None = None
        self.synced = False
        self.updated_at: float | None = None
        self.timestamp_ms = 0

    def __repr__(self) -> str:
        return (
            f"BookReplica(market={self.market_id}, synced={self.synced}, "
            f"bid={self.best_bid}, ask={self.best_ask}, nonce={self.nonce})"
        )

    def apply_snapshot(self, book: OrderBook) -> None:
        """Replace the whole book with a `subscribed/order_book` snapshot."""
        self._bids = {level.price: level.size for level in book.bids if level.size > 0}
        self._asks = {level.price: level.size for level in book.asks if level.size > 0}
        self.nonce = book.nonce
        self.synced = True
        self._touch(book)

    def apply_delta(self, book: OrderBook) -> bool:
        """Apply an `update/order_book` delta; False (and out of sync) when continuity breaks."""
        if not self.synced:
            return False
        if book.begin_nonce != self.nonce:
            self.synced = False
            return False
        for side, levels in ((self._bids, book.bids), (self._asks, book.asks)):
            for level in levels:
                if level.size > 0:
                    side[level.price] = level.size
                else:
                    side.pop(level.price, None)
        self.nonce = book.nonce
        self._touch(book)
        return True

    def invalidate(self) -> None:
        """Mark out of sync (connection lost); levels stay readable but `is_stale` is True."""
        self.synced = False

    def _touch(self, book: OrderBook) -> None:
        self.updated_at = self._clock()
        if book.timestamp_ms:
            self.timestamp_ms = book.timestamp_ms

    @property
    def best_bid(self) -> Decimal | None:
        """Highest bid price, None on an empty side."""
        return max(self._bids) if self._bids else None

    @property
    def best_ask(self) -> Decimal | None:
        """Lowest ask price, None on an empty side."""
        return min(self._asks) if self._asks else None

    @property
    def mid(self) -> Decimal | None:
        """Mid price, None unless both sides have a level."""
        bid, ask = self.best_bid, self.best_ask
        if bid is None or ask is None:
            return None
        return (bid + ask) / 2

    def top(self) -> BookTop:
        """Best bid and ask with their sizes."""
        bid, ask = self.best_bid, self.best_ask
        return BookTop(
            market_id=self.market_id,
            bid=bid,
            ask=ask,
            bid_size=self._bids[bid] if bid is not None else Decimal(0),
            ask_size=self._asks[ask] if ask is not None else Decimal(0),
            timestamp_ms=self.timestamp_ms,
        )

    def depth(self, levels: int | None = None) -> OrderBook:
        """The book's levels, best first, at most `levels` per side."""
        bids = sorted(self._bids.items(), reverse=True)[:levels]
        asks = sorted(self._asks.items())[:levels]
        return OrderBook(
            market_id=self.market_id,
            bids=tuple(BookLevel(price=p, size=s) for p, s in bids),
            asks=tuple(BookLevel(price=p, size=s) for p, s in asks),
            nonce=self.nonce or 0,
            timestamp_ms=self.timestamp_ms,
        )

    def age_s(self) -> float | None:
        """Seconds since the last applied frame, None before the first snapshot."""
        if self.updated_at is None:
            return None
        return self._clock() - self.updated_at

    def is_stale(self, max_age_s: float) -> bool:
        """True when out of sync or when nothing was applied for more than `max_age_s`.

        Lighter only sends changed levels, so a quiet market also ages; callers pick a bound
        that fits how they use the price.
        """
        age = self.age_s()
        return not self.synced or age is None or age > max_age_s
