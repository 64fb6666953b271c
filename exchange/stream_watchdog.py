"""Liveness of an `AccountStream`'s connection: idle pings, staleness, replacing a silent one.

Lighter drops a websocket idle for 2 minutes, and a connection can also die without a close
frame. `StreamWatchdog` keeps the stream's three clocks (last frame received, last market or
account data, last frame sent) and, while a connection is open, `watch()` pings it when nothing
was sent for `ping_interval_s`, emits `Stale` once per silence of `stale_after_s` without data,
and closes a connection that received no frame for `reconnect_after_s` so the stream replaces it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from exchange.errors import pause
from exchange.stream_events import Stale, StreamEvent

logger = logging.getLogger(__name__)

SendFrame = Callable[[aiohttp.ClientWebSocketResponse, dict[str, Any]], Awaitable[None]]


class StreamWatchdog:
    """The liveness clocks and checks of one stream, across its successive connections."""

    def __init__(
        self,
        name: str,
        clock: Callable[[], float],
        *,
        stale_after_s: float,
        reconnect_after_s: float,
        ping_interval_s: float,
    ) -> None:
        if ping_interval_s >= reconnect_after_s:
            raise ValueError("ping_interval_s must be shorter than reconnect_after_s")
        # What the logs call the stream: "account 7" or "market data of markets 0, 1".
        self.name = name
        self.stale_after_s = stale_after_s
        self.reconnect_after_s = reconnect_after_s
        self.ping_interval_s = ping_interval_s
        self._clock = clock
        self._last_frame = clock()
        self._last_data = clock()
        self._last_sent = clock()
        self._stale_reported = False

    def connected(self) -> None:
        """A connection is subscribed: its silences count from now."""
        self._last_frame = self._last_data = self._clock()
        self._stale_reported = False

    def frame_received(self) -> None:
        """Any frame arrived (a pong too): the connection is alive."""
        self._last_frame = self._clock()

    def data_received(self) -> None:
        """Market or account data arrived: the stream is not stale."""
        self._last_data = self._clock()
        self._stale_reported = False

    def frame_sent(self) -> None:
        """We sent a frame: no ping is due before `ping_interval_s` from now."""
        self._last_sent = self._clock()

    async def watch(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        send: SendFrame,
        emit: Callable[[StreamEvent], None],
    ) -> None:
        """Ping when idle, report staleness, replace a connection that went silent."""
        tick = max(0.01, min(self.ping_interval_s, self.stale_after_s, self.reconnect_after_s) / 4)
        while not ws.closed:
            await pause(tick)
            now = self._clock()
            if now - self._last_sent >= self.ping_interval_s:
                await send(ws, {"type": "ping"})
            silent = now - self._last_data
            if silent >= self.stale_after_s and not self._stale_reported:
                self._stale_reported = True
                logger.warning("stream of %s stale: no data for %.1fs", self.name, silent)
                emit(Stale(silent_s=silent))
            if now - self._last_frame >= self.reconnect_after_s:
                logger.warning(
                    "stream of %s silent for %.1fs; replacing the connection",
                    self.name,
                    now - self._last_frame,
                )
                await ws.close()
                return
