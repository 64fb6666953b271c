"""Real local HTTP servers for the alert tests: a webhook receiver and a fake Telegram Bot API
(the only fake: Telegram is a third-party service). Each runs http.server on a free port in a
thread and records what it received."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One request; header names lower-cased (HTTP header names are case-insensitive)."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Answers every POST with `status`; with `hold` set, keeps each request until released."""

    status: int = 200
    hold: bool = False
    requests: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    # What happened in which order; a test may append its own steps to it.
    log: list[str] = field(default_factory=list)
    url: str = ""

    def handle(self, received: Received) -> tuple[int, bytes]:
        self.requests.append(received)
        self.arrived.set()
        if self.hold:
            self.release.wait(30)
        self.log.append("answered")
        return self.status, b'{"ok": true}'


@dataclass
class FakeTelegram:
    """The Bot API methods LighterWeb calls, for one token: sendMessage and getUpdates."""

    token: str
    sent: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    offsets_asked: list[int] = field(default_factory=list)
    url: str = ""
    _next_update: int = 1000

    def message_from(self, user_id: int, text: str, *, chat_id: int | None = None) -> None:
        """Queue a message from a Telegram user, as getUpdates would return it."""
        self._next_update += 1
        self.updates.append(
            {
                "update_id": self._next_update,
                "message": {
                    "message_id": self._next_update,
                    "from": {"id": user_id, "is_bot": False, "username": f"user{user_id}"},
                    "chat": {"id": chat_id or user_id, "type": "private"},
                    "date": 0,
                    "text": text,
                },
            }
        )

    def texts_to(self, chat_id: int) -> list[str]:
        return [m["text"] for m in self.sent if int(m["chat_id"]) == chat_id]

    def handle(self, received: Received) -> tuple[int, bytes]:
        match = re.fullmatch(r"/bot(?P<token>[^/]+)/(?P<method>\w+)", received.path)
        if match is None or match["token"] != self.token:
            return 401, json.dumps({"ok": False, "description": "Unauthorized"}).encode()
        payload = received.json()
        if match["method"] == "sendMessage":
            self.sent.append(payload)
            return 200, json.dumps({"ok": True, "result": {"message_id": len(self.sent)}}).encode()
        if match["method"] == "getUpdates":
            offset = int(payload.get("offset", 0))
            self.offsets_asked.append(offset)
            # Answers at once (no long wait): the tests drive the rounds themselves.
            result = [u for u in self.updates if u["update_id"] >= offset]
            return 200, json.dumps({"ok": True, "result": result}).encode()
        return 404, json.dumps({"ok": False, "description": "Not Found"}).encode()


@contextmanager
def serve(app: WebhookReceiver | FakeTelegram) -> Iterator[str]:
    """Run `app` on 127.0.0.1 on a free port; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            received = Received(self.path, headers, self.rfile.read(length))
            status, body = app.handle(received)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield app.url
    finally:
        if isinstance(app, WebhookReceiver):
            app.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
