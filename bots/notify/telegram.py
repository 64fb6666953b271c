"""The Telegram Bot HTTP API, the two methods LighterWeb needs: sendMessage and getUpdates.

The base URL is the setting TELEGRAM_API_URL (https://api.telegram.org; tests point it at a
local fake). The token is part of every URL, so URLs are never logged and errors never echo
them (`bots.notify.http`).
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from bots.notify.http import DeliveryFailed, post_json

# Telegram refuses longer texts.
MAX_TEXT_CHARS = 4096


def _call(token: str, method: str, payload: dict[str, Any], timeout_s: float) -> Any:
    base = str(settings.TELEGRAM_API_URL).rstrip("/")
    answer = post_json(
        f"{base}/bot{token}/{method}",
        json.dumps(payload).encode(),
        timeout_s=timeout_s,
        what=f"Telegram {method}",
    )
    if not isinstance(answer, dict) or not answer.get("ok"):
        description = answer.get("description") if isinstance(answer, dict) else None
        raise DeliveryFailed(f"Telegram {method} refused: {description}", transient=False)
    return answer.get("result")


def send_message(token: str, chat_id: str | int, text: str, *, timeout_s: float = 10.0) -> None:
    """Send a plain-text message (no markup: nothing in an event message needs escaping)."""
    if len(text) > MAX_TEXT_CHARS:
        text = text[: MAX_TEXT_CHARS - 1] + "…"
    _call(
        token,
        "sendMessage",
        {"chat_id": chat_id, "text": text, "disable_web_page_preview": True},
        timeout_s,
    )


def get_updates(token: str, offset: int, timeout_s: int) -> list[dict[str, Any]]:
    """Messages sent to the bot since `offset`, waiting up to `timeout_s` for one (long poll)."""
    result = _call(
        token,
        "getUpdates",
        {"offset": offset, "timeout": timeout_s, "allowed_updates": ["message"]},
        timeout_s + 10.0,
    )
    return [update for update in result or [] if isinstance(update, dict)]
