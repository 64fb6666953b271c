"""AccountStream against a websocket venue speaking Lighter's `/stream` protocol.

`Venue` is the exchange edge only: one market's book with nonces, one account's orders and
fills, auth tokens, app-level ping/pong and fault switches (drop connections, skip a nonce, stop
answering, go silent). Payload rows are the captured Lighter fixtures.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from aiohttp import WSMsgType, web

from exchange.streams import (
    AccountStream,
    BookUpdate,
    Connected,
    Disconnected,
    FillEvent,
    OrderUpdate,
    PositionUpdate,
    Reconnected,
    Stale,
    StreamError,
    StreamEvent,
)

# the recorded Lighter payloads (tests/fixtures/lighter)
from tests.paths import FIXTURES

ACCOUNT = 1234
MARKET = 0
WAIT_S = 10.0

E = TypeVar("E")


def fixture_row(name: str, *path: str | int) -> dict[str, Any]:
    data: Any = json.loads((FIXTURES / name).read_text())
    for key in path:
        data = data[key]
    return dict(data)


class Venue:
    """Lighter's websocket edge for one market and one account, with fault switches."""

    def __init__(self) -> None:
        self.sockets: list[web.WebSocketResponse] = []
        self.subscriptions: dict[web.WebSocketResponse, set[str]] = {}
        self.subscribe_log: list[tuple[str, str | None]] = []
        self.valid_tokens: set[str] = set()
        self.nonce = 500
        self.bids: dict[str, str] = {"99.00": "1.0000", "98.00": "2.0000"}
        self.asks: dict[str, str] = {"101.00": "1.5000"}
        self.trades: list[dict[str, Any]] = []
        self.answer_pings = True
        self.pings_received = asyncio.Event()
        self.connections = 0

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self.connections += 1
        self.sockets.append(ws)
        self.subscriptions[ws] = set()
        await ws.send_json({"type": "connected", "session_id": f"s{self.connections}"})
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await self._on_request(ws, json.loads(message.data))
        self.subscriptions.pop(ws, None)
        return ws

    async def _on_request(self, ws: web.WebSocketResponse, request: dict[str, Any]) -> None:
        kind = request.get("type")
        channel = str(request.get("channel", "")).replace("/", ":")
        if kind == "ping":
            self.pings_received.set()
            if self.answer_pings:
                await ws.send_json({"type": "pong"})
        elif kind == "unsubscribe":
            self.subscriptions[ws].discard(channel)
        elif kind == "subscribe":
            self.subscribe_log.append((channel, request.get("auth")))
            if channel.startswith("account_") and request.get("auth") not in self.valid_tokens:
                await ws.send_json({"type": "error", "code": 30012, "message": "invalid auth"})
                return
            self.subscriptions[ws].add(channel)
            await ws.send_json(self.snapshot(channel))

    def snapshot(self, channel: str) -> dict[str, Any]:
        kind = channel.split(":")[0]
        frame: dict[str, Any] = {"type": f"subscribed/{kind}", "channel": channel}
        if kind == "order_book":
            frame["order_book"] = self._book_payload(self.bids, self.asks, 0)
        elif kind == "trade":
            frame["trades"] = []
        elif kind == "account_all":
            frame["trades"] = {str(MARKET): list(self.trades)}
            frame["positions"] = {}
        elif kind == "account_all_orders":
            frame["orders"] = {}
        elif kind == "account_tx":
            frame["txs"] = []
        return frame

    def _book_payload(
        self, bids: dict[str, str], asks: dict[str, str], begin_nonce: int
    ) -> dict[str, Any]:
        return {
            "code": 0,
            "bids": [{"price": p, "size": s} for p, s in bids.items()],
            "asks": [{"price": p, "size": s} for p, s in asks.items()],
            "nonce": self.nonce,
            "begin_nonce": begin_nonce,
            "offset": 1,
        }

    async def publish(self, channel: str, frame: dict[str, Any]) -> None:
        for ws, channels in list(self.subscriptions.items()):
            if channel in channels and not ws.closed:
                await ws.send_json(
                    {"type": f"update/{channel.split(':')[0]}", "channel": channel, **frame}
                )

    async def change_book(
        self,
        bids: dict[str, str] | None = None,
        asks: dict[str, str] | None = None,
        gap: bool = False,
    ) -> None:
        """Apply a change and send it as a delta (with `gap`, one delta goes missing)."""
        bids, asks = bids or {}, asks or {}
        for side, changes in ((self.bids, bids), (self.asks, asks)):
            for price, size in changes.items():
                if Decimal(size) == 0:
                    side.pop(price, None)
                else:
                    side[price] = size
        begin = self.nonce + (7 if gap else 0)
        self.nonce = begin + 3
        await self.publish(
            f"order_book:{MARKET}", {"order_book": self._book_payload(bids, asks, begin)}
        )

    def book_levels(self) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        return (
            {Decimal(p): Decimal(s) for p, s in self.bids.items()},
            {Decimal(p): Decimal(s) for p, s in self.asks.items()},
        )

    async def fill(self, trade_id: int) -> None:
        trade = fixture_row("ws_account_all_trades_update.json", "trades", "0", 0)
        trade.update(trade_id=trade_id, trade_id_str=str(trade_id), bid_account_id=ACCOUNT)
        self.trades.append(trade)
        await self.publish(f"account_all:{ACCOUNT}", {"trades": {str(MARKET): [trade]}})

    async def order(self, client_order_index: int, status: str) -> None:
        row = fixture_row("ws_account_orders_update.json", "orders", "0", 0)
        row.update(
            client_order_index=client_order_index, status=status, owner_account_index=ACCOUNT
        )
        await self.publish(f"account_all_orders:{ACCOUNT}", {"orders": {str(MARKET): [row]}})

    async def ping_clients(self) -> None:
        for ws in list(self.subscriptions):
            await ws.send_json({"type": "ping"})

    async def drop(self) -> None:
        for ws in list(self.subscriptions):
            await ws.close()


@pytest.fixture
async def venue() -> AsyncIterator[tuple[Venue, str]]:
    venue = Venue()
    app = web.Application()
    app.router.add_get("/stream", venue.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield venue, f"ws://127.0.0.1:{port}/stream"
    await runner.cleanup()


class Tokens:
    """Hands out a new valid token on each call, as the client's signer would."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.issued: list[str] = []
        self._counter = itertools.count(1)

    async def __call__(self) -> str:
        token = f"1795253080:{ACCOUNT}:4:{next(self._counter):0160x}"
        self.venue.valid_tokens.add(token)
        self.issued.append(token)
        return token


class Watcher:
    """Reads a stream's events in the background; tests wait for the next of a kind."""

    def __init__(self, stream: AccountStream) -> None:
        self.stream = stream
        self.seen: list[StreamEvent] = []
        self._changed = asyncio.Condition()
        self._cursor = 0
        # subscribe now, not when the task first runs, so no event slips past this consumer
        self._task = asyncio.create_task(self._read(stream.events()))

    async def _read(self, feed: AsyncIterator[StreamEvent]) -> None:
        async for event in feed:
            async with self._changed:
                self.seen.append(event)
                self._changed.notify_all()

    async def next(self, kind: type[E], timeout: float = WAIT_S) -> E:
        """The next event of `kind` after the previously returned one."""

        async def find() -> E:
            async with self._changed:
                while True:
                    for index in range(self._cursor, len(self.seen)):
                        event = self.seen[index]
                        if isinstance(event, kind):
                            self._cursor = index + 1
                            return event
                    await self._changed.wait()

        return await asyncio.wait_for(find(), timeout)

    async def close(self) -> None:
        await self.stream.stop()
        await asyncio.wait_for(self._task, WAIT_S)


async def open_stream(url: str, tokens: Tokens | None, **options: Any) -> Watcher:
    settings: dict[str, Any] = {"backoff_base_s": 0.05, "backoff_cap_s": 0.2, **options}
    stream = AccountStream(url, ACCOUNT if tokens else None, [MARKET], tokens, **settings)
    await stream.start()
    return Watcher(stream)


@pytest.fixture
async def connected(venue: tuple[Venue, str]) -> AsyncIterator[tuple[Venue, Watcher, Tokens]]:
    server, url = venue
    tokens = Tokens(server)
    watcher = await open_stream(url, tokens)
    await watcher.next(Connected)
    yield server, watcher, tokens
    await watcher.close()


def replica_levels(watcher: Watcher) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    depth = watcher.stream.book(MARKET).depth()
    return ({lv.price: lv.size for lv in depth.bids}, {lv.price: lv.size for lv in depth.asks})


async def test_subscribes_every_channel_private_ones_with_a_token(
    connected: tuple[Venue, Watcher, Tokens],
) -> None:
    venue, _watcher, tokens = connected
    token = tokens.issued[0]
    assert venue.subscribe_log == [
        ("order_book:0", None),
        ("trade:0", None),
        ("market_stats:0", None),
        (f"account_all_orders:{ACCOUNT}", token),
        (f"account_all:{ACCOUNT}", token),
        (f"account_tx:{ACCOUNT}", token),
    ]


def test_a_market_stream_subscribes_its_markets_orders_without_transactions() -> None:
    stream = AccountStream(
        "ws://127.0.0.1:9/stream", ACCOUNT, [MARKET, 2], None, market_orders=True, tx_updates=False
    )
    assert stream.channels()[6:] == [
        f"account_orders/{MARKET}/{ACCOUNT}",
        f"account_orders/2/{ACCOUNT}",
        f"account_all/{ACCOUNT}",
    ]


async def test_book_replica_follows_snapshot_and_deltas(
    connected: tuple[Venue, Watcher, Tokens],
) -> None:
    venue, watcher, _ = connected
    snapshot = await watcher.next(BookUpdate)
    await venue.change_book(bids={"99.50": "0.5000", "98.00": "0.0000"})
    await venue.change_book(asks={"100.50": "2.0000"})
    await watcher.next(BookUpdate)
    last = await watcher.next(BookUpdate)

    assert snapshot.is_snapshot
    assert (last.top.bid, last.top.ask) == (Decimal("99.50"), Decimal("100.50"))
    assert replica_levels(watcher) == venue.book_levels()
    assert not watcher.stream.book(MARKET).is_stale(WAIT_S)


async def test_nonce_gap_resubscribes_the_book_and_resyncs_from_a_snapshot(
    connected: tuple[Venue, Watcher, Tokens],
) -> None:
    venue, watcher, _ = connected
    await watcher.next(BookUpdate)
    await venue.change_book(bids={"99.70": "1.0000"}, gap=True)

    resynced = await watcher.next(BookUpdate)

    assert resynced.is_snapshot
    assert venue.subscribe_log.count(("order_book:0", None)) == 2
    assert replica_levels(watcher) == venue.book_levels()


async def test_dropped_connection_reconnects_with_a_fresh_token(
    connected: tuple[Venue, Watcher, Tokens],
) -> None:
    venue, watcher, tokens = connected
    await venue.drop()

    await watcher.next(Disconnected)
    await watcher.next(Reconnected)

    assert len(tokens.issued) == 2
    assert venue.subscribe_log[-1] == (f"account_tx:{ACCOUNT}", tokens.issued[1])


async def test_no_book_change_or_fill_is_lost_across_a_drop(
    connected: tuple[Venue, Watcher, Tokens],
) -> None:
    venue, watcher, _ = connected
    await watcher.next(BookUpdate)
    await venue.fill(trade_id=1)
    await venue.change_book(bids={"99.10": "1.0000"})
    await watcher.next(FillEvent)
    await watcher.next(BookUpdate)
    await venue.drop()
    await watcher.next(Disconnected)
    assert watcher.stream.book(MARKET).is_stale(WAIT_S)
    # while the client is away: the book moves and the account trades
    await venue.change_book(asks={"100.90": "3.0000", "101.00": "0.0000"})
    await venue.fill(trade_id=2)

    await watcher.next(Reconnected)
    book = await watcher.next(BookUpdate)  # snapshots arrive in subscription order
    history = await watcher.next(FillEvent)
    await venue.change_book(bids={"99.20": "1.0000"})
    await watcher.next(BookUpdate)

    assert history.is_snapshot
    assert {f.trade_id for f in history.fills} == {1, 2}
    assert book.top.ask == Decimal("100.90")
    assert replica_levels(watcher) == venue.book_levels()


async def test_order_and_fill_updates_carry_parsed_types(
    connected: tuple[Venue, Watcher, Tokens],
) -> None:
    venue, watcher, _ = connected
    await venue.order(client_order_index=77, status="open")
    await venue.fill(trade_id=9)

    snapshot = await watcher.next(OrderUpdate)
    order = await watcher.next(OrderUpdate)
    fill = await watcher.next(FillEvent)

    assert snapshot.is_snapshot and snapshot.orders == ()
    assert (order.orders[0].client_order_index, order.orders[0].status) == (77, "open")
    assert order.orders[0].remaining_size == Decimal("0.0030")
    assert (fill.fills[0].trade_id, fill.fills[0].account_index) == (9, ACCOUNT)
    assert fill.fills[0].price == Decimal("2352.73")


async def test_two_consumers_of_one_stream_both_see_every_order_update(
    connected: tuple[Venue, Watcher, Tokens],
) -> None:
    venue, watcher, _ = connected
    assert (await watcher.next(OrderUpdate)).is_snapshot
    second = Watcher(watcher.stream)
    await venue.order(client_order_index=1, status="open")
    await venue.order(client_order_index=1, status="filled")

    for consumer in (watcher, second):
        opened, filled = await consumer.next(OrderUpdate), await consumer.next(OrderUpdate)
        assert [opened.orders[0].status, filled.orders[0].status] == ["open", "filled"]


async def test_unreadable_book_frame_resyncs_the_book(
    connected: tuple[Venue, Watcher, Tokens],
) -> None:
    venue, watcher, _ = connected
    await watcher.next(BookUpdate)
    bad = {"order_book": {"bids": [{"price": "n/a", "size": "1"}], "nonce": 1, "begin_nonce": 0}}
    await venue.publish(f"order_book:{MARKET}", bad)

    resynced = await watcher.next(BookUpdate)

    assert resynced.is_snapshot
    assert replica_levels(watcher) == venue.book_levels()


async def test_unreadable_account_frame_is_reported_for_a_reconcile(
    connected: tuple[Venue, Watcher, Tokens],
) -> None:
    venue, watcher, _ = connected
    bad_row = {"trade_id": 5, "price": "n/a", "size": "1", "bid_account_id": ACCOUNT}
    await venue.publish(f"account_all:{ACCOUNT}", {"trades": {"0": [bad_row]}})

    error = await watcher.next(StreamError)

    assert "unreadable" in error.message
    assert watcher.stream.connected


async def test_account_snapshot_reports_positions(
    connected: tuple[Venue, Watcher, Tokens],
) -> None:
    _venue, watcher, _ = connected
    update = await watcher.next(PositionUpdate)
    assert update.is_snapshot
    assert update.account_index == ACCOUNT


async def test_server_ping_is_answered_with_pong(
    venue: tuple[Venue, str],
) -> None:
    server, url = venue
    answered = asyncio.Event()

    async def on_pong(ws: web.WebSocketResponse, request: dict[str, Any]) -> None:
        if request.get("type") == "pong":
            answered.set()
        await original(ws, request)

    original = server._on_request
    server._on_request = on_pong  # type: ignore[method-assign]
    watcher = await open_stream(url, None)
    await watcher.next(Connected)
    await server.ping_clients()

    await asyncio.wait_for(answered.wait(), WAIT_S)
    await watcher.close()


async def test_idle_stream_pings_the_server(venue: tuple[Venue, str]) -> None:
    server, url = venue
    watcher = await open_stream(url, None, ping_interval_s=0.1)
    await watcher.next(Connected)

    await asyncio.wait_for(server.pings_received.wait(), WAIT_S)
    await watcher.close()


async def test_stale_is_reported_when_data_stops(venue: tuple[Venue, str]) -> None:
    _server, url = venue
    watcher = await open_stream(url, None, stale_after_s=0.2, ping_interval_s=0.1)
    await watcher.next(Connected)

    stale = await watcher.next(Stale)

    assert stale.silent_s >= 0.2
    assert watcher.stream.connected
    await watcher.close()


async def test_a_market_only_stream_names_its_markets_when_stale(
    venue: tuple[Venue, str], caplog: pytest.LogCaptureFixture
) -> None:
    # The process's market feed has no account: "stream of account None stale" told nothing.
    _server, url = venue
    caplog.set_level(logging.WARNING, logger="exchange.stream_watchdog")
    watcher = await open_stream(url, None, stale_after_s=0.2, ping_interval_s=0.1)
    await watcher.next(Connected)

    await watcher.next(Stale)

    (message,) = [r.getMessage() for r in caplog.records if "stale" in r.getMessage()]
    assert message.startswith(f"stream of markets {MARKET} stale: no data for ")
    await watcher.close()


async def test_silent_connection_is_replaced(venue: tuple[Venue, str]) -> None:
    server, url = venue
    server.answer_pings = False
    watcher = await open_stream(url, None, ping_interval_s=0.1, reconnect_after_s=0.4)
    await watcher.next(Connected)

    await watcher.next(Disconnected)
    await watcher.next(Reconnected)

    assert server.connections >= 2
    await watcher.close()


async def test_refused_subscription_surfaces_as_stream_error(venue: tuple[Venue, str]) -> None:
    _server, url = venue

    async def stale_token() -> str:
        return "1:1234:4:expired"

    stream = AccountStream(url, ACCOUNT, [MARKET], stale_token)
    await stream.start()
    watcher = Watcher(stream)

    error = await watcher.next(StreamError)

    assert error.code == 30012
    await watcher.close()


async def test_failing_token_provider_is_retried_not_fatal(venue: tuple[Venue, str]) -> None:
    server, url = venue
    tokens = Tokens(server)
    calls = 0

    async def flaky_tokens() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("signer not ready")
        return await tokens()

    stream = AccountStream(url, ACCOUNT, [MARKET], flaky_tokens, backoff_base_s=0.01)
    watcher = Watcher(stream)
    await stream.start()

    failed = await watcher.next(Disconnected)
    await watcher.next(Connected)  # the first connection that got its subscriptions through

    assert "signer not ready" in failed.reason
    assert server.subscribe_log[-1] == (f"account_tx:{ACCOUNT}", tokens.issued[0])
    await watcher.close()


async def test_server_dropping_at_once_gets_growing_backoff(venue: tuple[Venue, str]) -> None:
    server, url = venue
    watcher = await open_stream(url, None, backoff_base_s=0.01, backoff_cap_s=0.05)
    await watcher.next(Connected)
    for _ in range(3):
        await server.drop()
        await watcher.next(Disconnected)
        last = await watcher.next(Reconnected)

    assert last.attempts == 3
    await watcher.close()


async def test_unreachable_venue_is_retried_until_stopped() -> None:
    stream = AccountStream(
        "ws://127.0.0.1:9/stream", None, [MARKET], None, backoff_base_s=0.01, backoff_cap_s=0.05
    )
    await stream.start()
    watcher = Watcher(stream)

    await watcher.next(Disconnected)
    await watcher.next(Disconnected)

    await watcher.close()
    assert not any(isinstance(e, Connected) for e in watcher.seen)


async def test_stop_ends_the_event_iterator(connected: tuple[Venue, Watcher, Tokens]) -> None:
    _venue, watcher, _ = connected
    await watcher.stream.stop()
    await asyncio.wait_for(watcher._task, WAIT_S)
    assert not watcher.stream.connected


def test_ping_interval_must_be_shorter_than_reconnect_bound() -> None:
    with pytest.raises(ValueError, match="ping_interval_s"):
        AccountStream("ws://x/stream", None, [0], None, ping_interval_s=60, reconnect_after_s=60)
