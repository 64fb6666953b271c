"""Bounds on what one request may cost the web process, checked before anything parses it.

- `RequestBodyLimit` (ASGI middleware, lighterweb.asgi): a body larger than
  `settings.REQUEST_BODY_MAX_BYTES` is answered 413 without reaching Django. Django would read any
  size (spooling to disk) and then answer its own 400 from DATA_UPLOAD_MAX_MEMORY_SIZE; a declared
  Content-Length over the limit is refused before a byte is read, a chunked body as soon as it
  passes the limit. Paths in `settings.REQUEST_BODY_LARGE_PATHS` (the admin's candle CSV upload)
  have a limit of their own, for a request whose session cookie is an active staff user's
  (anyone else gets the ordinary limit: no stranger makes the server spool 128 MB), and are
  streamed through, counted, not held in memory: Django spools their files to disk.
- `DepthLimitedParser` (the API's JSON parser): a body nested deeper than `JSON_MAX_DEPTH` is
  refused before `json.loads` sees it. The standard parser recurses once per level, so deep
  nesting costs a RecursionError at best and, when a dependency has raised the recursion limit,
  overflows the C stack and kills the process.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest
from django.utils.module_loading import import_string
from ninja.parser import Parser

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Django's and channels' handlers annotate scope/messages differently; any ASGI callable fits.
ASGIApp = Callable[..., Awaitable[None]]

# Our bodies are flat objects (depth 1); 20 leaves room for any sane client and none for abuse.
JSON_MAX_DEPTH = 20

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


class JsonTooDeep(ValueError):
    """A JSON document nested deeper than allowed (refused unparsed)."""


def json_depth_exceeds(body: bytes, max_depth: int = JSON_MAX_DEPTH) -> bool:
    """Whether `body` nests arrays/objects deeper than `max_depth`, without parsing it.

    Strings are removed first (brackets inside them do not nest); what is left is scanned once,
    iteratively, so the check costs linear time and constant stack whatever the input.
    """
    depth = 0
    for byte in _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS):
        if byte in b"[{":
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


class DepthLimitedParser(Parser):
    """ninja's JSON parser behind the depth check (lighterweb.api maps JsonTooDeep to 422)."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        if json_depth_exceeds(request.body):
            raise JsonTooDeep(f"The JSON body is nested deeper than {JSON_MAX_DEPTH} levels.")
        return super().parse_body(request)


class RequestBodyLimit:
    """ASGI middleware: HTTP bodies over `settings.REQUEST_BODY_MAX_BYTES` get a 413."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        large: dict[str, int] = settings.REQUEST_BODY_LARGE_PATHS
        limit = int(settings.REQUEST_BODY_MAX_BYTES)
        streamed = scope["path"] in large and await _staff_session(scope)
        if streamed:
            limit = int(large[scope["path"]])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._too_large(scope, send, limit)
            return
        if streamed:
            await self._streamed(scope, receive, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(scope, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            # The app reads the body we already hold, then waits on the real channel (disconnect).
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Hand the body to the app as it comes, counting it; past the limit the app sees the
        client leave (Django's handler then answers nothing) and the client gets the 413."""
        size = 0
        over = False

        async def counted() -> Message:
            nonlocal size, over
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted, send)
        if over:
            await self._too_large(scope, send, limit)

    @staticmethod
    async def _too_large(scope: Scope, send: Send, limit: int) -> None:
        logger.warning(
            "refused a request body over %d bytes: %s %s", limit, scope["method"], scope["path"]
        )
        payload = json.dumps(
            {
                "detail": f"Request body too large (at most {limit} bytes).",
                "code": "too_large",
                "errors": [],
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


async def _staff_session(scope: Scope) -> bool:
    """Whether the request's session cookie belongs to an active staff user (read from the
    session store before the body: Django's own checks come only after it)."""
    key = _cookie(scope, settings.SESSION_COOKIE_NAME)
    return bool(key) and await sync_to_async(_session_is_staff)(key)


def _session_is_staff(key: str) -> bool:
    store: SessionBase = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(key)
    user_id = store.get(SESSION_KEY)
    if user_id is None:
        return False
    users = get_user_model().objects.filter(pk=user_id, is_active=True, is_staff=True)
    return bool(users.exists())


def _cookie(scope: Scope, name: str) -> str:
    for header, value in scope.get("headers", []):
        if header.lower() == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, text = part.strip().partition("=")
                if key == name:
                    return str(text)
    return ""


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            # A malformed length is left to the server's own parser (daphne answers 400).
            return int(text) if text.isascii() and text.isdigit() else None
    return None
