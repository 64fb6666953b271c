"""One bounded HTTP POST of JSON, with failures sorted into retry-worthy or not.

The standard library's client is enough for a message every few seconds and adds no dependency.
Error messages never contain the URL: a Telegram URL holds the bot token and many webhook URLs
are secrets themselves (Slack, Discord), and these messages reach logs and the admin.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

# A stuck endpoint holds a default-queue worker at most this long per attempt.
TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 1_000_000


class DeliveryFailed(Exception):
    """A message did not get through; `transient` says whether trying again may help."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def post_json(
    url: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    timeout_s: float = TIMEOUT_SECONDS,
    what: str = "endpoint",
) -> Any:
    """POST `body` (JSON) to an http(s) `url`; the decoded JSON answer (None if not JSON).

    Raises DeliveryFailed: transient for timeouts, connection errors, 429 and 5xx; permanent
    for other 4xx (a wrong token or URL does not fix itself).
    """
    if not url.startswith(("http://", "https://")):
        raise DeliveryFailed(f"{what}: only http(s) URLs are allowed", transient=False)
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            payload = response.read(MAX_RESPONSE_BYTES)
    except urllib.error.HTTPError as exc:
        detail = _error_detail(exc)
        transient = exc.code == 429 or exc.code >= 500
        raise DeliveryFailed(
            f"{what} answered HTTP {exc.code}{detail}", transient=transient
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryFailed(f"{what} unreachable: {reason}", transient=True) from None
    try:
        return json.loads(payload) if payload else None
    except ValueError:
        return None


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """Telegram explains its refusals in a JSON `description`; keep a short one."""
    try:
        answer = json.loads(exc.read(4096) or b"{}")
    except (ValueError, OSError):
        return ""
    description = answer.get("description") if isinstance(answer, dict) else None
    return f": {str(description)[:200]}" if description else ""
