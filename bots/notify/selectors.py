"""Reads of the notification tables: the routes of enabled channels and who is linked."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import QuerySet

from bots.models import Bot, NotificationChannel, TelegramLink
from bots.notify.rules import Route, route_of


def channel_list(*, enabled_only: bool = True) -> QuerySet[NotificationChannel]:
    """Channels (enabled ones only by default), by name."""
    channels = NotificationChannel.objects.all()
    return channels.filter(enabled=True) if enabled_only else channels


def route_list() -> list[Route]:
    """What every enabled channel accepts, in two queries (channels, then their bot filters)."""
    channels = list(channel_list().values_list("pk", "alert_kinds", "min_level"))
    through = NotificationChannel.bots.through
    bot_ids: dict[int, list[int]] = defaultdict(list)
    rows = through.objects.filter(notificationchannel_id__in=[pk for pk, _, _ in channels])
    for channel_id, bot_id in rows.values_list("notificationchannel_id", "bot_id"):
        bot_ids[channel_id].append(bot_id)
    return [route_of(pk, list(kinds or []), level, bot_ids[pk]) for pk, kinds, level in channels]


def channels_for(
    kind: str, level: str, *, bot_id: int | None = None, account_id: int | None = None
) -> list[NotificationChannel]:
    """Enabled channels that accept an alert of `kind` at `level` about a bot or an account.

    A channel limited to some bots hears about an account only when one of its bots trades on it.
    """
    wanted = {route.channel_id for route in route_list() if route.accepts(kind, level, bot_id)}
    channels = list(channel_list().filter(pk__in=wanted).prefetch_related("bots"))
    if account_id is None:
        return channels
    return [
        channel
        for channel in channels
        if not channel.bots.all() or any(b.account_id == account_id for b in channel.bots.all())
    ]


def bots_of_channel(channel: NotificationChannel) -> QuerySet[Bot]:
    """The bots a channel reports on (every bot when it has no filter)."""
    chosen = channel.bots.all()
    return chosen if chosen.exists() else Bot.objects.all()


def linked_user_id(telegram_user_id: int) -> int | None:
    """The LighterWeb user linked to a Telegram user, if any."""
    return (
        TelegramLink.objects.filter(telegram_user_id=telegram_user_id)
        .values_list("user_id", flat=True)
        .first()
    )
