"""What a notification says: one frozen `Notification`, built from events or summaries.

The same object becomes a Telegram text, an email and a webhook's JSON body, and travels as a
plain dict in Celery task arguments (`as_dict` / `from_dict`). Texts name the bot and its symbol
(house style 14) and never carry a secret: events hold none.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bots.models import AlertKind, BotEvent, EventLevel
from bots.notify.rules import level_rank

# Enough to read a burst at a glance; the webhook's JSON carries every event.
MAX_LINES = 10
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Notification:
    """One message to a channel: alert kind, level, title, text, and what it is about."""

    kind: str
    level: str
    title: str
    text: str
    bot_id: int | None = None
    account_id: int | None = None
    events: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (Celery arguments, webhook body)."""
        return {
            "schema": SCHEMA_VERSION,
            "kind": self.kind,
            "level": self.level,
            "title": self.title,
            "text": self.text,
            "bot_id": self.bot_id,
            "account_id": self.account_id,
            "events": list(self.events),
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Notification:
        return cls(
            kind=str(raw["kind"]),
            level=str(raw["level"]),
            title=str(raw["title"]),
            text=str(raw["text"]),
            bot_id=raw.get("bot_id"),
            account_id=raw.get("account_id"),
            events=tuple(raw.get("events") or ()),
            data=dict(raw.get("data") or {}),
        )

    def with_note(self, note: str) -> Notification:
        """The same notification with a line appended (e.g. what the rate limit held back)."""
        return Notification(
            self.kind,
            self.level,
            self.title,
            f"{self.text}\n{note}",
            self.bot_id,
            self.account_id,
            self.events,
            self.data,
        )

    @property
    def plain_text(self) -> str:
        """Title and text, as Telegram and email show them."""
        return f"{self.title}\n{self.text}"


def event_dict(event: BotEvent) -> dict[str, Any]:
    """A BotEvent as the webhook's JSON carries it."""
    return {
        "id": event.pk,
        "bot_id": event.bot_id,
        "kind": event.kind,
        "level": event.level,
        "message": event.message,
        "data": event.data,
        "created_at": event.created_at.isoformat(),
    }


def _bot_label(event: BotEvent) -> str:
    bot = event.bot
    return f"{bot.name} ({bot.market.symbol}, {bot.account.name})"


def from_event(event: BotEvent, kind: str) -> Notification:
    """One event as one notification (`event` with bot, market and account loaded)."""
    level = event.level.upper() if event.level != EventLevel.INFO else "info"
    return Notification(
        kind=kind,
        level=event.level,
        title=f"[{level}] {_bot_label(event)}: {event.kind.replace('_', ' ')}",
        text=event.message,
        bot_id=event.bot_id,
        account_id=event.account_id,
        events=(event_dict(event),),
    )


def from_burst(events: list[BotEvent], kind: str, window_s: float) -> Notification:
    """Several events of one bot (a burst of fills) as one notification, oldest first."""
    first = events[0]
    counts = Counter(event.message.split(" ", 1)[0] for event in events)
    split = ", ".join(f"{count} {side}" for side, count in sorted(counts.items()))
    label = kind.replace("_", " ") if kind != AlertKind.FILLS else "fills"
    lines = [event.message for event in events[:MAX_LINES]]
    if len(events) > MAX_LINES:
        lines.append(f"... and {len(events) - MAX_LINES} more")
    worst = max((event.level for event in events), key=level_rank)
    return Notification(
        kind=kind,
        level=worst,
        title=f"{_bot_label(first)}: {len(events)} {label} in {window_s:g} s ({split})",
        text="\n".join(lines),
        bot_id=first.bot_id,
        account_id=first.account_id,
        events=tuple(event_dict(event) for event in events),
    )


def channel_test_message(channel_name: str) -> Notification:
    """The admin's "Send test" message."""
    return Notification(
        kind="test",
        level=EventLevel.INFO,
        title=f"LighterWeb test message for {channel_name}",
        text="If you can read this, the channel works.",
    )
