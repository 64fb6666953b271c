"""One public market-data connection per process and market, shared by the runners on it.

Each grid runner used to subscribe its market's book, trades and mark on its own account stream.
With 16 bots on one market in a worker, every fill's book delta was then received, parsed and
replicated 16 times, and each of the 16 runners replanned on it. A `MarketFeed` keeps ONE
market-only `AccountStream` per (websocket URL, market) in this process, on a thread of its own
(`lw-markets`, one event loop for all the process's feeds), and hands its book to the runners
attached to it and keeps its mark for them:

- `attach(ws_url, market_id, deliver)`, called on a runner's event loop, returns a `FeedHandle`.
  `handle.top` is the latest best bid and ask (replaced whole, so any thread reads a consistent
  pair), `handle.mark` the latest mark (`MarkUpdate`), and `deliver` is called on the runner's
  loop with `BookUpdate` events. Marks are read, not handed on (they move with every book
  change; a runner reads `handle.mark` when it decides and when it publishes its figures), but
  for one past the runner's exits (`handle.exits`, its stop-loss and take-profit prices: they
  judge the mark): that one is handed on, or a book frozen inside its band (deltas stopped
  while the marks flow) would keep the stop-loss from firing.
  Books (and marks) are conflated: while one waits to be taken by a busy runner, a newer one
  of its kind replaces it (the runner plans from the latest book; a delta in between changes
  nothing it does). A runner that attaches to a feed that already has a book gets it at once.
- A book delta that moves neither best price (a deeper level, or a size at the top) updates
  `handle.top` but is not handed on: runners plan from the best bid and ask prices only, and
  on a busy market most deltas are deeper down. Snapshots are always handed on.
- `handle.band`, set by its runner: an open range of mids in which no book changes what the
  runner would do (the grid's `quiet_band`). A delta whose mid stays inside it is not handed on
  to that runner. The runner clears it when it tells its strategy anything and when what a plan
  compares of its working orders moves, sets it after each decision (none after one that asked
  for something), and then checks the feed's top against it (the feed writes its top before it
  reads a band, the runner writes a band before it reads the top: a delta the old band kept
  away is in the top the runner reads).
- `handle.close()` detaches; a feed's connection closes with its last runner.

The feed subscribes the market's book and mark (`order_book`, `market_stats`), not its public
trades, which no runner reads. The feed's connection events (connected, lost, reconnected,
stale) are its own: its stream logs them. A runner reconciles its orders when its *account*
stream reconnects; a lost market connection only means a fresh book snapshot once it is back,
and until then the last book stays readable, as a runner's own replica did. Feeds are per
process: after a fork (Celery's prefork pool) the child starts its own thread and connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from exchange.stream_events import BookUpdate, MarkUpdate, StreamEvent
from exchange.streams import AccountStream
from exchange.types import BookTop

logger = logging.getLogger(__name__)

Deliver = Callable[[StreamEvent], None]


class FeedHandle:
    """One runner's attachment to a feed: the latest top, and conflated deliveries to its loop."""

    def __init__(self, feed: MarketFeed, loop: asyncio.AbstractEventLoop, deliver: Deliver):
        self.feed = feed
        self._loop = loop
        self._deliver = deliver
        self._lock = threading.Lock()
        # The newest book and mark not taken by the runner yet (a hand-over is then scheduled).
        self._pending: dict[type, BookUpdate | MarkUpdate] = {}
        self.closed = False
        # Events replaced before the runner took them (for tests).
        self.conflated = 0
        # Mids (low, high), exclusive, whose books the runner need not be handed (see above).
        self.band: tuple[Decimal, Decimal] | None = None
        # Set by its runner: the prices its exits fire at, judged on the mark (at or below,
        # at or above; None: no such exit). A mark past one is handed on (see above).
        self.exits: tuple[Decimal | None, Decimal | None] = (None, None)

    @property
    def top(self) -> BookTop | None:
        """The feed's latest best bid and ask (None before its first book)."""
        return self.feed.top

    @property
    def mark(self) -> MarkUpdate | None:
        """The feed's latest mark (None before the first)."""
        return self.feed.mark

    def offer(self, event: BookUpdate | MarkUpdate) -> None:
        """From the feed's thread: queue `event` for the runner, replacing an untaken one of
        its kind (a book, a mark)."""
        with self._lock:
            scheduled = bool(self._pending)
            if self._pending.get(type(event)) is not None:
                self.conflated += 1
            self._pending[type(event)] = event
            if scheduled:
                return  # its hand-over is scheduled already
        try:
            self._loop.call_soon_threadsafe(self._hand_over)
        except RuntimeError:
            # The runner's loop closed without detaching (a crashed thread): nothing to tell.
            self.closed = True

    def past_exits(self, mark: Decimal) -> bool:
        """Whether `mark` is at or past one of the runner's exits."""
        low, high = self.exits
        return (low is not None and mark <= low) or (high is not None and mark >= high)

    def _hand_over(self) -> None:
        with self._lock:
            events, self._pending = list(self._pending.values()), {}
        if self.closed:
            return
        for event in events:
            self._deliver(event)

    def close(self) -> None:
        """Detach from the feed (its connection closes with its last runner)."""
        if not self.closed:
            self.closed = True
            _feeds.detach(self)


class MarketFeed:
    """One market's public data in this process: a market-only stream and its runners."""

    def __init__(self, ws_url: str, market_id: int, options: dict[str, Any]) -> None:
        self.ws_url = ws_url
        self.market_id = market_id
        self._options = options
        self.top: BookTop | None = None
        self.mark: MarkUpdate | None = None
        # Replaced whole on attach and detach: the feed's thread iterates a list nobody mutates.
        self.handles: tuple[FeedHandle, ...] = ()
        self.stream: AccountStream | None = None
        self._pump: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """On the feed loop: connect and start handing events on."""
        self.stream = AccountStream(
            self.ws_url, None, [self.market_id], None, trades=False, **self._options
        )
        await self.stream.start()
        self._pump = asyncio.create_task(self._hand_on(self.stream))

    async def stop(self) -> None:
        """On the feed loop: close the connection."""
        if self.stream is not None:
            await self.stream.stop()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    async def _hand_on(self, stream: AccountStream) -> None:
        # Books are handed on, marks kept (and handed on past a runner's exits); trades and
        # connection events stay here.
        async for event in stream.events():
            if isinstance(event, MarkUpdate) and event.market_id == self.market_id:
                self.mark = event
                for handle in self.handles:
                    if handle.past_exits(event.mark_price):
                        handle.offer(event)
            if not isinstance(event, BookUpdate) or event.market_id != self.market_id:
                continue
            last, self.top = self.top, event.top
            mid = None  # a snapshot reaches every runner
            if not event.is_snapshot:
                if last is not None and _same_prices(last, event.top):
                    continue
                mid = event.top.mid
            for handle in self.handles:
                band = handle.band
                if mid is not None and band is not None and band[0] < mid < band[1]:
                    continue
                handle.offer(event)


def _same_prices(one: BookTop, other: BookTop) -> bool:
    return one.bid == other.bid and one.ask == other.ask


class _Feeds:
    """The process's feeds by (websocket URL, market) and the loop thread they run on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._feeds: dict[tuple[str, int], MarketFeed] = {}

    def attach(self, ws_url: str, market_id: int, deliver: Deliver, **options: Any) -> FeedHandle:
        """The calling loop's runner attached to the market's feed (started if it is the first);
        `options` go to the feed's stream when this call starts it."""
        loop = asyncio.get_running_loop()
        with self._lock:
            feed_loop = self._running()
            key = (ws_url, market_id)
            feed = self._feeds.get(key)
            if feed is None:
                feed = self._feeds[key] = MarketFeed(ws_url, market_id, options)
                asyncio.run_coroutine_threadsafe(feed.start(), feed_loop)
            handle = FeedHandle(feed, loop, deliver)
            feed.handles = (*feed.handles, handle)
        top = feed.top
        if top is not None:
            handle.offer(BookUpdate(market_id=market_id, top=top, is_snapshot=True))
        return handle

    def detach(self, handle: FeedHandle) -> None:
        feed = handle.feed
        with self._lock:
            feed.handles = tuple(h for h in feed.handles if h is not handle)
            key = (feed.ws_url, feed.market_id)
            if feed.handles or self._feeds.get(key) is not feed or self._loop is None:
                return
            del self._feeds[key]
            asyncio.run_coroutine_threadsafe(feed.stop(), self._loop)

    def active(self) -> dict[tuple[str, int], int]:
        """Runners attached per (websocket URL, market) in this process."""
        with self._lock:
            if self._pid != os.getpid():
                return {}
            return {key: len(feed.handles) for key, feed in self._feeds.items()}

    def _running(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._pid != os.getpid():
            # First use, or a forked child: the parent's thread and connections are not ours.
            self._pid = os.getpid()
            self._feeds = {}
            self._loop = asyncio.new_event_loop()
            threading.Thread(target=self._loop.run_forever, name="lw-markets", daemon=True).start()
        return self._loop


_feeds = _Feeds()


def attach(ws_url: str, market_id: int, deliver: Deliver, **options: Any) -> FeedHandle:
    """Attach the calling runner (on its event loop) to this process's feed of `market_id`."""
    return _feeds.attach(ws_url, market_id, deliver, **options)


def active() -> dict[tuple[str, int], int]:
    """Runners attached per (websocket URL, market) in this process."""
    return _feeds.active()
