"""WebSocket ``/stream``: sessions, subscriptions, app-level ping/pong and fan-out.

Protocol (lighter-api.md §7): ``connected`` with a session id on connect; requests name channels
with ``/`` (``order_book/0``), replies with ``:`` (``order_book:0``); ``subscribed/<kind>``
snapshot, then ``update/<kind>`` frames. Clients that do not answer the app-level ``ping`` within
the timeout are closed with 1008 "no pong", like Lighter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSCloseCode, WSMsgType, web

from exchange.simulator.auth import AuthError

logger = logging.getLogger(__name__)

# Channels that need an auth token for the account they name (lighter-api.md §7.2).
PRIVATE_CHANNELS = frozenset(
    {
        "account_all_orders",
        "account_orders",
        "account_tx",
        "account_all_assets",
        "account_market",
    }
)


class ChannelError(Exception):
    """A subscribe request the server refuses (code/message of lighter-api.md Appendix A)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class WsBackend(Protocol):
    """What the hub needs from the server: snapshots, auth and transaction submission."""

    def snapshot(self, kind: str, args: list[str]) -> dict[str, Any]:
        """Payload fields (without type/channel/timestamp) of ``subscribed/<kind>``."""

    def check_auth(self, token: str | None, account_index: int) -> None:
        """Raise AuthError unless ``token`` is valid for ``account_index``."""

    def now_ms(self) -> int:
        """Simulated time."""

    async def ws_send_tx(self, data: dict[str, Any], peer: str) -> dict[str, Any]:
        """Handle ``jsonapi/sendtx``; returns the reply fields (code, tx_hash | message)."""

    async def ws_send_tx_batch(self, data: dict[str, Any], peer: str) -> dict[str, Any]:
        """Handle ``jsonapi/sendtxbatch``."""

    def pong_ignored(self) -> bool:
        """Whether the ``missed_pong`` fault is on (pongs are then not counted)."""

    def should_drop(self, kind: str) -> bool:
        """Whether the ``ws_drop`` fault fires for a frame of channel ``kind``."""

    def should_lose(self, kind: str) -> bool:
        """Whether the ``ws_lose`` fault fires for a frame of channel ``kind``."""


def parse_channel(channel: str) -> tuple[str, list[str]]:
    """``order_book/0`` (or ``order_book:0``) -> (``order_book``, [``0``])."""
    parts = channel.replace(":", "/").split("/")
    return parts[0], [p for p in parts[1:] if p != ""]


def reply_channel(kind: str, args: list[str]) -> str:
    """The ``:``-joined channel name used in server frames."""
    return ":".join([kind, *args])


@dataclass(eq=False)
class Session:
    """One websocket client."""

    ws: web.WebSocketResponse
    peer: str
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    channels: set[str] = field(default_factory=set)
    pong_event: asyncio.Event = field(default_factory=asyncio.Event)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, frame: dict[str, Any]) -> None:
        """Send one JSON frame; a closed socket is simply skipped (its reader cleans up)."""
        if self.ws.closed:
            return
        async with self.send_lock:
            with contextlib.suppress(ConnectionResetError):
                await self.ws.send_str(json.dumps(frame, separators=(",", ":")))


class WsHub:
    """All sessions and who listens to which ``:`` channel."""

    def __init__(
        self,
        backend: WsBackend,
        *,
        ping_interval_s: float = 30.0,
        pong_timeout_s: float = 10.0,
    ) -> None:
        self.backend = backend
        self.ping_interval_s = ping_interval_s
        self.pong_timeout_s = pong_timeout_s
        self.sessions: set[Session] = set()
        self._listeners: dict[str, set[Session]] = {}

    def listeners(self, channel: str) -> set[Session]:
        """Sessions subscribed to ``channel`` (``:`` form)."""
        return self._listeners.get(channel, set())

    def has_listeners(self, channel: str) -> bool:
        """Whether anyone listens to ``channel``."""
        return bool(self._listeners.get(channel))

    async def publish(self, kind: str, args: list[str], payload: dict[str, Any]) -> None:
        """Send ``update/<kind>`` with ``payload`` to the channel's subscribers."""
        channel = reply_channel(kind, args)
        sessions = self._listeners.get(channel)
        if not sessions:
            return
        frame = {
            "type": f"update/{kind}",
            "channel": channel,
            **payload,
            "timestamp": self.backend.now_ms(),
        }
        await self._deliver(set(sessions), kind, frame)

    async def publish_to(
        self, sessions: set[Session], kind: str, args: list[str], payload: dict[str, Any]
    ) -> None:
        """Send ``update/<kind>`` to exactly ``sessions`` (chosen before any await)."""
        frame = {
            "type": f"update/{kind}",
            "channel": reply_channel(kind, args),
            **payload,
            "timestamp": self.backend.now_ms(),
        }
        await self._deliver(sessions, kind, frame)

    async def _deliver(self, sessions: set[Session], kind: str, frame: dict[str, Any]) -> None:
        live = []
        for session in sessions:
            if self.backend.should_drop(kind):
                logger.info("ws_drop fault: closing session %s", session.session_id)
                await session.ws.close(code=WSCloseCode.GOING_AWAY, message=b"dropped")
            elif self.backend.should_lose(kind):
                logger.info("ws_lose fault: %s frame not sent to %s", kind, session.session_id)
            else:
                live.append(session)
        await asyncio.gather(*(s.send(frame) for s in live))

    async def drop_all(
        self, code: int = WSCloseCode.GOING_AWAY, reason: str = "", *, announce: bool = False
    ) -> int:
        """Close every session (``/sim/ws/drop``, shutdown); returns how many.

        With ``announce`` each client first gets Lighter's ``{"type":"shutdown"}`` frame."""
        sessions = list(self.sessions)
        for session in sessions:
            if announce:
                await session.send({"type": "shutdown", "close_in_ms": 0})
            await session.ws.close(code=code, message=reason.encode())
        return len(sessions)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """aiohttp handler for ``GET /stream``."""
        ws = web.WebSocketResponse(autoping=True, heartbeat=None, max_msg_size=8 * 1024 * 1024)
        await ws.prepare(request)
        session = Session(ws=ws, peer=request.remote or "unknown")
        self.sessions.add(session)
        await session.send({"type": "connected", "session_id": session.session_id})
        pinger = asyncio.create_task(self._ping_loop(session))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                await self._on_text(session, msg.data)
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger
            self._forget(session)
        return ws

    def _forget(self, session: Session) -> None:
        self.sessions.discard(session)
        for channel in session.channels:
            self._listeners.get(channel, set()).discard(session)
        session.channels.clear()

    async def _ping_loop(self, session: Session) -> None:
        while not session.ws.closed:
            await asyncio.sleep(self.ping_interval_s)
            session.pong_event.clear()
            await session.send({"type": "ping"})
            try:
                async with asyncio.timeout(self.pong_timeout_s):
                    await session.pong_event.wait()
            except TimeoutError:
                logger.info("ws session %s gave no pong; closing", session.session_id)
                await session.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"no pong")
                return

    async def _on_text(self, session: Session, text: str) -> None:
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            await session.send(_error(30000, "Invalid Json"))
            return
        if not isinstance(message, dict):
            await session.send(_error(30000, "Invalid Json"))
            return
        handler = self._handlers().get(str(message.get("type")))
        if handler is None:
            await session.send(_error(30001, "Invalid Type"))
            return
        await handler(session, message)

    def _handlers(
        self,
    ) -> dict[str, Callable[[Session, dict[str, Any]], Awaitable[None]]]:
        return {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "ping": self._ping,
            "pong": self._pong,
            "jsonapi/sendtx": self._send_tx,
            "jsonapi/sendtxbatch": self._send_tx_batch,
        }

    async def _ping(self, session: Session, message: dict[str, Any]) -> None:
        await session.send({"type": "pong"})

    async def _pong(self, session: Session, message: dict[str, Any]) -> None:
        if not self.backend.pong_ignored():
            session.pong_event.set()

    async def _subscribe(self, session: Session, message: dict[str, Any]) -> None:
        kind, args = parse_channel(str(message.get("channel", "")))
        channel = reply_channel(kind, args)
        if channel in session.channels:
            await session.send(_error(30003, f"Already Subscribed to : {channel}"))
            return
        try:
            if kind in PRIVATE_CHANNELS:
                self.backend.check_auth(message.get("auth"), _account_arg(args))
            payload = self.backend.snapshot(kind, args)
        except AuthError as exc:
            await session.send(_error(30012, f"Failed to subscribe: {exc.message}"))
            return
        except ChannelError as exc:
            await session.send(_error(exc.code, exc.message))
            return
        session.channels.add(channel)
        self._listeners.setdefault(channel, set()).add(session)
        await session.send(
            {
                "type": f"subscribed/{kind}",
                "channel": channel,
                **payload,
                "timestamp": self.backend.now_ms(),
            }
        )

    async def _unsubscribe(self, session: Session, message: dict[str, Any]) -> None:
        kind, args = parse_channel(str(message.get("channel", "")))
        channel = reply_channel(kind, args)
        if channel not in session.channels:
            await session.send(_error(30002, f"Not Subscribed to : {channel}"))
            return
        session.channels.discard(channel)
        self._listeners.get(channel, set()).discard(session)
        await session.send({"type": "unsubscribed", "channel": channel})

    async def _send_tx(self, session: Session, message: dict[str, Any]) -> None:
        data = message.get("data")
        if not isinstance(data, dict):
            await session.send(_error(30007, "Invalid Data"))
            return
        reply = await self.backend.ws_send_tx(data, session.peer)
        await session.send(_with_id({"type": "jsonapi/sendtx", **reply}, data))

    async def _send_tx_batch(self, session: Session, message: dict[str, Any]) -> None:
        data = message.get("data")
        if not isinstance(data, dict):
            await session.send(_error(30007, "Invalid Data"))
            return
        reply = await self.backend.ws_send_tx_batch(data, session.peer)
        await session.send(_with_id({"type": "jsonapi/sendtxbatch", **reply}, data))


def _account_arg(args: list[str]) -> int:
    # Account channels put the account last: account_orders/{market}/{account}.
    try:
        return int(args[-1])
    except (IndexError, ValueError) as exc:
        raise ChannelError(30005, "Invalid Channel") from exc


def _error(code: int, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def _with_id(frame: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    if "id" in data:
        frame["id"] = data["id"]
    return frame
