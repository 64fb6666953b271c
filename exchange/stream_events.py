"""Typed events of `exchange.streams.AccountStream` (re-exported there).

They carry the parsed types of `exchange.types`; `Reconnected` obliges the consumer to reconcile
over REST (see the contract in `exchange.streams`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exchange.frames import (
    AccountAllFrame,
    AccountFillsFrame,
    AccountOrdersFrame,
    AccountPositionsFrame,
    Frame,
    MarketStatsFrame,
    TradesFrame,
    UnknownFrame,
)
from exchange.types import BookTop, FillInfo, FundingPayment, OrderInfo, PositionInfo, Trade

# Events kept for a first consumer that has not subscribed yet; beyond this the oldest go (a
# stream read only through `book()` must not grow without bound).
BACKLOG_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Connected:
    """First connection is up and every channel was subscribed."""

    session_id: str


@dataclass(frozen=True, slots=True)
class Reconnected:
    """Connection is back after a loss: reconcile over REST now (updates may have been missed)."""

    session_id: str
    attempts: int  # connection attempts since the last connection that held


@dataclass(frozen=True, slots=True)
class Disconnected:
    """Connection lost; books are out of sync until the next snapshot."""

    reason: str


@dataclass(frozen=True, slots=True)
class Stale:
    """No data for `silent_s` seconds although the connection looked alive."""

    silent_s: float


@dataclass(frozen=True, slots=True)
class BookUpdate:
    """The replica of `market_id` changed (snapshot or delta); read more via `stream.book()`."""

    market_id: int
    top: BookTop
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class TradeUpdate:
    """Public trades of a market."""

    market_id: int
    trades: tuple[Trade, ...]
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class MarkUpdate:
    """The exchange's mark price of a market (`market_stats` channel): what Lighter values
    positions at (unrealized PnL, margin, liquidations), not the book's mid."""

    market_id: int
    mark_price: Decimal
    index_price: Decimal | None
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """Orders of the account changed (snapshot = all active orders)."""

    account_index: int
    orders: tuple[OrderInfo, ...]
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class FillEvent:
    """Fills of the account (a snapshot carries history: dedupe by trade id)."""

    account_index: int
    fills: tuple[FillInfo, ...]
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """Positions of the account."""

    account_index: int
    positions: tuple[PositionInfo, ...]
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class FundingUpdate:
    """Funding payments of the account."""

    account_index: int
    payments: tuple[FundingPayment, ...]
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class TxUpdate:
    """Transactions of the account as Lighter sent them (status, `event_info` with reasons)."""

    account_index: int
    txs: tuple[dict[str, Any], ...]
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class StreamError:
    """An error frame (refused subscription, bad token, rate limit...)."""

    code: int
    message: str


StreamEvent = (
    Connected
    | Reconnected
    | Disconnected
    | Stale
    | BookUpdate
    | TradeUpdate
    | MarkUpdate
    | OrderUpdate
    | FillEvent
    | PositionUpdate
    | FundingUpdate
    | TxUpdate
    | StreamError
)


# acknowledgements that carry no data
IGNORED_FRAME_TYPES = frozenset({"unsubscribed", "subscribed"})


def data_events(frame: Frame, raw: dict[str, Any], account_index: int | None) -> list[StreamEvent]:
    """Events of one trade, market stats or account frame (order books are the stream's own
    business).

    Returns [] for frames that carry none of these (pings, acks, tickers, ...).
    """
    if isinstance(frame, MarketStatsFrame):
        # a stats row without a usable mark (a market just listed) is no price at all
        return [
            MarkUpdate(s.market_id, s.mark_price, s.index_price, frame.is_snapshot)
            for s in frame.stats
            if s.mark_price is not None and s.mark_price > 0
        ]
    if isinstance(frame, TradesFrame):
        return [TradeUpdate(frame.market_id, frame.trades, frame.is_snapshot)]
    if isinstance(frame, AccountOrdersFrame):
        return [OrderUpdate(frame.account_index, frame.orders, frame.is_snapshot)]
    if isinstance(frame, AccountFillsFrame):
        return [FillEvent(frame.account_index, frame.fills, frame.is_snapshot)]
    if isinstance(frame, AccountPositionsFrame):
        return [PositionUpdate(frame.account_index, frame.positions, frame.is_snapshot)]
    if isinstance(frame, AccountAllFrame):
        # positions first: a consumer that sees a fill can then trust the position it holds
        events: list[StreamEvent] = [
            PositionUpdate(frame.account_index, frame.positions, frame.is_snapshot)
        ]
        if frame.fills:
            events.append(FillEvent(frame.account_index, frame.fills, frame.is_snapshot))
        if frame.funding:
            events.append(FundingUpdate(frame.account_index, frame.funding, frame.is_snapshot))
        return events
    if isinstance(frame, UnknownFrame) and frame.frame_type.endswith("/account_tx"):
        # the parser does not model account_tx; pass Lighter's tx rows through untouched
        txs = raw.get("txs") or []
        return [
            TxUpdate(
                account_index=account_index or 0,
                txs=tuple(t for t in txs if isinstance(t, dict)),
                is_snapshot=frame.frame_type.startswith("subscribed/"),
            )
        ]
    return []


class EventFanout:
    """Delivers every event to each consumer's own unbounded queue, in order.

    Queues are unbounded so a slow consumer never makes the stream drop a fill. Events published
    before the first consumer subscribes wait in a bounded backlog that the first one receives.
    """

    def __init__(self) -> None:
        self._feeds: list[asyncio.Queue[StreamEvent | None]] = []
        self._backlog: list[StreamEvent] = []
        self._closed = False

    def publish(self, event: StreamEvent) -> None:
        """Hand `event` to every consumer (or to the backlog while there is none)."""
        if not self._feeds:
            self._backlog.append(event)
            if len(self._backlog) > BACKLOG_LIMIT:
                del self._backlog[0]
        for feed in self._feeds:
            feed.put_nowait(event)

    def subscribe(self) -> AsyncIterator[StreamEvent]:
        """A new consumer: an async iterator that ends after `close()`."""
        feed: asyncio.Queue[StreamEvent | None] = asyncio.Queue()
        if not self._feeds:
            for event in self._backlog:
                feed.put_nowait(event)
            self._backlog.clear()
        if self._closed:
            feed.put_nowait(None)
        self._feeds.append(feed)
        return self._drain(feed)

    def close(self) -> None:
        """End every consumer's iterator once it has read what was already published."""
        self._closed = True
        for feed in self._feeds:
            feed.put_nowait(None)

    async def _drain(self, feed: asyncio.Queue[StreamEvent | None]) -> AsyncIterator[StreamEvent]:
        try:
            while (item := await feed.get()) is not None:
                yield item
        finally:
            self._feeds.remove(feed)
