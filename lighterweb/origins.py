"""Websocket origin check: scheme, host and port of the page must be the site's own.

channels' AllowedHostsOriginValidator compares the Origin's host name with ALLOWED_HOSTS only, so
a page on another port or over plain http of the same host could open a socket with the user's
cookies. This mirrors Django's CSRF origin check instead: the Origin must equal the site's own
origin (the Host header, an allowed host, with the connection's scheme; https behind a proxy
that sets SECURE_PROXY_SSL_HEADER), or be listed in CSRF_TRUSTED_ORIGINS.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

logger = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_key(origin: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def _secure(scope: dict[str, Any], headers: dict[bytes, bytes]) -> bool:
    if scope.get("scheme") == "wss":
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, value = str(proxy[0]), str(proxy[1])
        header = name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
        return headers.get(header, b"").decode("latin-1").split(",")[0].strip() == value
    return False


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Whether the websocket handshake in `scope` comes from a page of this site."""
    headers = {name.lower(): value for name, value in scope.get("headers", [])}
    origin = _origin_key(headers.get(b"origin", b"").decode("latin-1"))
    host = headers.get(b"host", b"").decode("latin-1")
    if origin is None or not host:
        return False
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    own = _origin_key(f"{'https' if _secure(scope, headers) else 'http'}://{host}")
    trusted = {_origin_key(entry) for entry in settings.CSRF_TRUSTED_ORIGINS}
    return origin == own or origin in trusted


class SameOriginValidator:
    """ASGI middleware: refuse (403 at the handshake) a websocket whose Origin is not ours."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            logger.warning("websocket from a foreign origin refused: %s", scope.get("path"))
            return await WebsocketDenier()(scope, receive, send)
        return await self.app(scope, receive, send)
