"""Websocket URL routes: the dashboard's consumers (bots.dashboard.routing), then a catch-all.

Without the catch-all, channels' URLRouter raises for an unknown path and the server logs a
traceback for what is only a wrong URL; the catch-all closes the socket with 4404 instead.
"""

from __future__ import annotations

import logging

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import URLPattern, re_path

from bots.dashboard.routing import websocket_urlpatterns as bots_websocket_urlpatterns

logger = logging.getLogger(__name__)

CLOSE_NOT_FOUND = 4404


class UnknownPathConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Refuses the handshake of a path nothing serves (close code 4404)."""

    async def connect(self) -> None:
        logger.info("websocket to unknown path %s refused", self.scope.get("path"))
        await self.close(code=CLOSE_NOT_FOUND)


websocket_urlpatterns: list[URLPattern] = [
    *bots_websocket_urlpatterns,
    re_path(r"", UnknownPathConsumer.as_asgi(), name="ws-unknown"),
]
