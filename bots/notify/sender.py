"""From a committed event to messages on channels: plan, rate-limit, deliver, keep score.

`event_plan` decides what an event causes (messages to send now, events parked in a coalescing
window); `deliver` sends one message to one channel, honouring quiet hours and the channel's
rate limit, and records the outcome on the channel row (failures in a row, last error), which the
admin shows. The Celery tasks in `bots.notify.tasks` only call these.

Rate limit: at most NOTIFY_RATE_PER_MINUTE messages per channel per clock minute (Telegram's
own limit for a group is about 20). Messages over it are not sent; they are counted, and the
next message that goes out says how many were held back (the event log has them all).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

import redis
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from bots.models import BotEvent, EventLevel, NotificationChannel
from bots.notify import coalesce, messages, rules, transports
from bots.notify.http import DeliveryFailed
from bots.notify.messages import Notification
from bots.notify.selectors import channels_for

logger = logging.getLogger(__name__)

RATE_KEY = "lighterweb:notify:rate"
# Retries of one message: 5 s, 10 s, 20 s, 40 s, 80 s, never more than 5 minutes apart.
SEND_RETRIES = 5
RETRY_BASE_SECONDS = 5.0
RETRY_CAP_SECONDS = 300.0


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)


def retry_delay_s(retries_done: int) -> float:
    """Backoff before the next attempt: doubling from 5 s, capped at 5 minutes."""
    return float(min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2**retries_done))


@dataclass
class EventPlan:
    """What one event causes: messages to send now, and how many events joined a window."""

    send_now: list[tuple[int, Notification]] = field(default_factory=list)
    coalesced: int = 0


def event_plan(client: redis.Redis, event_id: int, now_s: float | None = None) -> EventPlan:
    """Match a committed BotEvent against the channels (fresh from the database)."""
    plan = EventPlan()
    event = (
        BotEvent.objects.select_related("bot__market", "bot__account").filter(pk=event_id).first()
    )
    if event is None:
        return plan  # its bot was deleted meanwhile
    kind = rules.alert_kind_of(event.kind, event.level)
    channels = channels_for(kind, event.level, bot_id=event.bot_id)
    for channel in channels:
        if kind in rules.COALESCED:
            window = coalesce.Window(channel.pk, event.bot_id, kind)
            now = time.time() if now_s is None else now_s
            coalesce.window_add(client, window, event.pk, now, coalesce_seconds())
            plan.coalesced += 1
        else:
            plan.send_now.append((channel.pk, messages.from_event(event, kind)))
    return plan


def coalesce_seconds() -> float:
    return float(settings.NOTIFY_COALESCE_SECONDS)


def coalesced_due(
    client: redis.Redis, now_s: float | None = None
) -> list[tuple[int, Notification]]:
    """Take every window whose deadline has passed: one message per window."""
    now = time.time() if now_s is None else now_s
    due = []
    for window in coalesce.windows_due(client, now):
        ids = coalesce.window_take(client, window)
        events = list(
            BotEvent.objects.select_related("bot__market", "bot__account")
            .filter(pk__in=ids)
            .order_by("created_at", "id")
        )
        if events:
            due.append(
                (window.channel_id, messages.from_burst(events, window.kind, coalesce_seconds()))
            )
    return due


# -- delivery ------------------------------------------------------------------------------------


def deliver(
    client: redis.Redis, channel_id: int, notification: Notification, now: datetime | None = None
) -> str:
    """Send one message to one channel; "sent", "disabled", "quiet" or "rate_limited".

    Raises DeliveryFailed after recording the failure on the channel.
    """
    now = now or timezone.now()
    channel = NotificationChannel.objects.filter(pk=channel_id, enabled=True).first()
    if channel is None:
        return "disabled"
    if notification.level != EventLevel.ERROR and channel.in_quiet_hours(now):
        logger.info("channel %s: %s held back (quiet hours)", channel.name, notification.kind)
        return "quiet"
    if not _rate_allows(client, channel_id, now):
        logger.info("channel %s: %s held back (rate limit)", channel.name, notification.kind)
        return "rate_limited"
    held_back = _held_back_take(client, channel_id)
    if held_back:
        notification = notification.with_note(
            f"({held_back} more notifications were held back by the rate limit: see the event log)"
        )
    try:
        transports.send(channel, notification)
    except DeliveryFailed as exc:
        channel_failed(channel_id, str(exc), now)
        logger.warning("channel %s: %s not delivered: %s", channel.name, notification.kind, exc)
        raise
    NotificationChannel.objects.filter(pk=channel_id).update(
        consecutive_failures=0, last_success_at=now
    )
    return "sent"


def channel_failed(channel_id: int, error: str, now: datetime) -> None:
    """Count a failed attempt on the channel (the admin shows it as failing)."""
    NotificationChannel.objects.filter(pk=channel_id).update(
        consecutive_failures=F("consecutive_failures") + 1,
        last_error=error[:500],
        last_failure_at=now,
    )


def _rate_allows(client: redis.Redis, channel_id: int, now: datetime) -> bool:
    minute = int(now.timestamp() // 60)
    key = f"{RATE_KEY}:{channel_id}:{minute}"
    pipe = client.pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, 120)
    sent_this_minute = int(pipe.execute()[0])
    if sent_this_minute <= int(settings.NOTIFY_RATE_PER_MINUTE):
        return True
    client.incr(f"{RATE_KEY}:{channel_id}:held")
    return False


def _held_back_take(client: redis.Redis, channel_id: int) -> int:
    raw = client.getdel(f"{RATE_KEY}:{channel_id}:held")
    return int(raw) if raw is not None else 0


def channel_test_send(channel: NotificationChannel) -> None:
    """The admin's "Send test": one message now, no retries (raises DeliveryFailed)."""
    try:
        transports.send(channel, messages.channel_test_message(channel.name))
    except DeliveryFailed as exc:
        channel_failed(channel.pk, str(exc), timezone.now())
        raise
    NotificationChannel.objects.filter(pk=channel.pk).update(
        consecutive_failures=0, last_success_at=timezone.now()
    )
