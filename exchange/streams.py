"""One websocket manager per account and process: books, trades, orders, fills, positions.

`AccountStream` keeps one connection to Lighter's `/stream` alive and turns its frames into typed
events (parsed by `exchange.parse_ws`):

- subscribes `order_book/{m}`, `trade/{m}` and `market_stats/{m}` (the mark price, as
  `MarkUpdate`) for each market (unless `market_data=False`: a runner's markets come from the
  process's shared `exchange.market_feed`) and, with an account,
  `account_all_orders/{a}` (or, with `market_orders=True`, `account_orders/{m}/{a}` per
  market: only these markets' order reports), `account_all/{a}` (fills, positions, funding)
  and `account_tx/{a}` (`TxUpdate`; left off with `tx_updates=False`), with a fresh auth
  token from `token_provider` on every (re)subscribe;
- answers the server's app-level `ping`; its `StreamWatchdog` (`exchange.stream_watchdog`) pings
  well inside Lighter's 2-minute idle limit, emits `Stale` when no market or account data arrived
  for `stale_after_s`, and closes a connection silent for `reconnect_after_s` to replace it;
- reconnects with bounded exponential backoff and full jitter, then resubscribes;
- keeps a `BookReplica` per market: a snapshot on every (re)subscribe, deltas checked for
  `begin_nonce` continuity; a gap resubscribes that book to get a fresh snapshot.

Reconnect contract: updates sent by Lighter while the connection was down are not replayed.
After every reconnect the stream emits `Reconnected` once its subscriptions are back; the consumer
must then reconcile orders, fills and positions over REST (fills are unique by trade id, so
re-reading history is safe). Events are queued without bound so a slow consumer never loses a
fill; `events()` is meant for one consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import aiohttp

from exchange.book import BookReplica
from exchange.errors import ExchangeError
from exchange.frames import (
    ErrorFrame,
    Frame,
    OrderBookFrame,
    PingFrame,
    PongFrame,
    UnknownFrame,
)
from exchange.parse import ParseError
from exchange.parse_ws import parse_frame
from exchange.stream_events import (
    IGNORED_FRAME_TYPES,
    BookUpdate,
    Connected,
    Disconnected,
    EventFanout,
    FillEvent,
    FundingUpdate,
    MarkUpdate,
    OrderUpdate,
    PositionUpdate,
    Reconnected,
    Stale,
    StreamError,
    StreamEvent,
    TradeUpdate,
    TxUpdate,
    data_events,
)
from exchange.stream_watchdog import StreamWatchdog

logger = logging.getLogger(__name__)

# the events are defined in exchange.stream_events; consumers import them from here
__all__ = [
    "AccountStream",
    "BookUpdate",
    "Connected",
    "Disconnected",
    "FillEvent",
    "FundingUpdate",
    "MarkUpdate",
    "OrderUpdate",
    "PositionUpdate",
    "Reconnected",
    "Stale",
    "StreamError",
    "StreamEvent",
    "TokenProvider",
    "TradeUpdate",
    "TxUpdate",
]

TokenProvider = Callable[[], Awaitable[str]]


_MARKET_KINDS = ("order_book", "trade", "market_stats")
# a connection that lasted this long resets the reconnect backoff
STABLE_CONNECTION_S = 30.0


class AccountStream:
    """Websocket manager of one account (or public data only) in one process."""

    def __init__(
        self,
        ws_url: str,
        account_index: int | None,
        market_ids: Sequence[int],
        token_provider: TokenProvider | None,
        *,
        stale_after_s: float = 15.0,
        reconnect_after_s: float = 60.0,
        ping_interval_s: float = 30.0,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        tx_updates: bool = True,
        market_orders: bool = False,
        market_data: bool = True,
        trades: bool = True,
        session: aiohttp.ClientSession | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # What its logs call it: a market-only stream (the process's feed) has no account.
        self.name = f"account {account_index}"
        if account_index is None:
            self.name = "markets " + ", ".join(str(m) for m in market_ids)
        self._watchdog = StreamWatchdog(
            self.name,
            clock,
            stale_after_s=stale_after_s,
            reconnect_after_s=reconnect_after_s,
            ping_interval_s=ping_interval_s,
        )
        self.ws_url = ws_url
        self.account_index = account_index
        self.market_ids = tuple(market_ids)
        self.token_provider = token_provider
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.connect_timeout_s = connect_timeout_s
        # A consumer of one market's orders that reads no `TxUpdate` subscribes neither the
        # account's other markets' orders nor its transactions: with several bots on one
        # account, each bot's stream would receive, parse and queue all of them for nothing.
        self.tx_updates = tx_updates
        self.market_orders = market_orders
        # Without market data (`market_data=False`) the stream carries the account's channels
        # only: its markets' books come from a process-wide `exchange.market_feed` shared by
        # every runner on the market, and `market_ids` only narrows `account_orders`.
        self.market_data = market_data
        # Public trades (`TradeUpdate`) are left off with `trades=False` (the shared market feed:
        # runners plan from the book and value at the mark; nothing reads the tape).
        self._market_kinds = (
            _MARKET_KINDS if trades else tuple(kind for kind in _MARKET_KINDS if kind != "trade")
        )
        self._session = session
        self._owns_session = session is None
        self._rng = rng if rng is not None else random.Random()
        self._clock = clock
        self._books = {m: BookReplica(m, clock) for m in self.market_ids if market_data}
        self._resyncing: set[int] = set()
        self._fanout = EventFanout()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._connected_at: float | None = None
        self.connections = 0

    def __repr__(self) -> str:
        return f"AccountStream(account={self.account_index}, markets={list(self.market_ids)})"

    @property
    def connected(self) -> bool:
        """True while a connection is open."""
        return self._ws is not None and not self._ws.closed

    def book(self, market_id: int) -> BookReplica:
        """The replica of `market_id` (one of the subscribed markets)."""
        return self._books[market_id]

    def channels(self) -> list[str]:
        """Every channel this stream subscribes, in subscription order."""
        names = [f"{kind}/{m}" for m in self._books for kind in self._market_kinds]
        account = self.account_index
        if account is None:
            return names
        if self.market_orders:
            names += [f"account_orders/{m}/{account}" for m in self.market_ids]
        else:
            names.append(f"account_all_orders/{account}")
        names.append(f"account_all/{account}")
        if self.tx_updates:
            names.append(f"account_tx/{account}")
        return names

    async def start(self) -> None:
        """Connect in the background; events start flowing through `events()`."""
        if self._task is not None:
            raise RuntimeError("stream already started")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._run(), name=f"stream-{self.account_index}")

    async def stop(self) -> None:
        """Close the connection, end the background task and end `events()`."""
        self._stopping.set()
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            # a connect stuck in its handshake would otherwise hold stop() for the full timeout
            _done, pending = await asyncio.wait({self._task}, timeout=self.connect_timeout_s)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._fanout.close()

    def events(self) -> AsyncIterator[StreamEvent]:
        """Typed events in arrival order, until `stop()`; each call is a separate consumer.

        The first consumer also gets what was emitted before it subscribed; later ones start
        from the moment they call `events()` (several bots of one account share one stream).
        """
        return self._fanout.subscribe()

    def _emit(self, event: StreamEvent) -> None:
        self._fanout.publish(event)

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            self._connected_at = None
            try:
                reason = await self._serve_one_connection(failures)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError, ExchangeError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            # The loop's one top-level handler: a bug or an unexpected failure (token provider,
            # odd frame) must not silently end the stream; log it in full and reconnect.
            except Exception as exc:
                logger.exception("stream of %s failed unexpectedly", self.name)
                reason = f"{type(exc).__name__}: {exc}"
            self._ws = None
            for replica in self._books.values():
                replica.invalidate()
            if self._stopping.is_set():
                return
            # Backoff restarts only after a connection that held: a server that accepts and
            # drops at once must still see growing delays, not a reconnect storm.
            held = self._connected_at is not None and (
                self._clock() - self._connected_at >= STABLE_CONNECTION_S
            )
            failures = 1 if held else failures + 1
            delay = self._rng.uniform(
                0, min(self.backoff_cap_s, self.backoff_base_s * 2 ** (failures - 1))
            )
            logger.warning(
                "stream of %s lost (%s); reconnecting in %.2fs (attempt %s)",
                self.name,
                reason,
                delay,
                failures,
            )
            self._emit(Disconnected(reason=reason))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()

    async def _serve_one_connection(self, failures: int) -> str:
        assert self._session is not None
        async with asyncio.timeout(self.connect_timeout_s):
            ws = await self._session.ws_connect(
                self.ws_url, heartbeat=None, timeout=aiohttp.ClientWSTimeout(ws_close=5)
            )
        async with ws:
            first = await ws.receive_json(timeout=self.connect_timeout_s)
            if not isinstance(first, dict) or first.get("type") != "connected":
                raise ValueError(f"expected a 'connected' frame, got {str(first)[:200]}")
            session_id = str(first.get("session_id", ""))
            self._ws = ws
            if self._stopping.is_set():
                return "stopped"
            self._resyncing = set(self._books)
            await self._subscribe_all(ws)
            self._watchdog.connected()
            self._connected_at = self._clock()
            self.connections += 1
            if self.connections == 1:
                self._emit(Connected(session_id=session_id))
            else:
                self._emit(Reconnected(session_id=session_id, attempts=max(1, failures)))
            logger.info("stream of %s connected (%s)", self.name, session_id)
            watching = asyncio.create_task(self._watchdog.watch(ws, self._send, self._emit))
            try:
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        await self._on_text(ws, message.data)
                    elif message.type == aiohttp.WSMsgType.ERROR:
                        break
            finally:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
            return f"closed by peer (code {ws.close_code})"

    async def _send(self, ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]) -> None:
        self._watchdog.frame_sent()
        await ws.send_str(json.dumps(frame, separators=(",", ":")))

    async def _subscribe_all(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        token = None
        if self.account_index is not None and self.token_provider is not None:
            # a fresh token per connection: an old one may have expired while we were away
            token = await self.token_provider()
        for channel in self.channels():
            frame: dict[str, Any] = {"type": "subscribe", "channel": channel}
            if token is not None and channel.startswith("account_"):
                frame["auth"] = token
            await self._send(ws, frame)

    async def _resubscribe_book(self, ws: aiohttp.ClientWebSocketResponse, market_id: int) -> None:
        self._resyncing.add(market_id)
        channel = f"order_book/{market_id}"
        await self._send(ws, {"type": "unsubscribe", "channel": channel})
        await self._send(ws, {"type": "subscribe", "channel": channel})

    async def _on_text(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> None:
        try:
            raw = json.loads(text)
        except ValueError:
            logger.warning("stream of %s: unreadable frame %.200s", self.name, text)
            return
        if not isinstance(raw, dict):
            return
        self._watchdog.frame_received()
        try:
            frame = parse_frame(raw, self.account_index)
        except ParseError as exc:
            await self._on_unreadable(ws, raw, exc)
            return
        if isinstance(frame, PingFrame):
            await self._send(ws, {"type": "pong"})
            return
        if isinstance(frame, PongFrame):
            return
        if isinstance(frame, ErrorFrame):
            logger.warning("stream of %s error %s: %s", self.name, frame.code, frame.message)
            self._emit(StreamError(code=frame.code, message=frame.message))
            return
        if isinstance(frame, OrderBookFrame):
            await self._on_book(ws, frame)
        else:
            self._dispatch(frame, raw)

    async def _on_unreadable(
        self, ws: aiohttp.ClientWebSocketResponse, raw: dict[str, Any], exc: ParseError
    ) -> None:
        """A frame we cannot read: a book resyncs; anything else is reported for a reconcile."""
        channel = str(raw.get("channel", ""))
        logger.warning(
            "stream of %s: unreadable %s frame on %s (%s)",
            self.name,
            raw.get("type"),
            channel,
            exc,
        )
        kind, _, market = channel.partition(":")
        if kind == "order_book" and market.isdigit() and int(market) in self._books:
            self._books[int(market)].invalidate()
            await self._resubscribe_book(ws, int(market))
            return
        self._emit(StreamError(code=0, message=f"unreadable frame on {channel}: {exc}"))

    async def _on_book(self, ws: aiohttp.ClientWebSocketResponse, frame: OrderBookFrame) -> None:
        market_id = frame.book.market_id
        replica = self._books.get(market_id)
        if replica is None:
            return
        self._watchdog.data_received()
        if frame.is_snapshot:
            replica.apply_snapshot(frame.book)
            self._resyncing.discard(market_id)
        elif market_id in self._resyncing:
            return  # deltas from before the new snapshot: the snapshot supersedes them
        elif not replica.apply_delta(frame.book):
            logger.warning(
                "book of market %s has a gap (begin_nonce %s after nonce %s); resyncing",
                market_id,
                frame.book.begin_nonce,
                replica.nonce,
            )
            await self._resubscribe_book(ws, market_id)
            return
        self._emit(
            BookUpdate(market_id=market_id, top=replica.top(), is_snapshot=frame.is_snapshot)
        )

    def _dispatch(self, frame: Frame, raw: dict[str, Any]) -> None:
        events = data_events(frame, raw, self.account_index)
        if events:
            self._watchdog.data_received()
            for event in events:
                self._emit(event)
        elif isinstance(frame, UnknownFrame) and frame.frame_type not in IGNORED_FRAME_TYPES:
            logger.debug("stream of %s ignores %s", self.name, frame.frame_type)
