"""Notification channels (Telegram, webhook, email) and the Telegram users allowed to command.

A channel says where alerts go and which ones: alert kinds (`AlertKind`, mapped from BotEvent
kinds by `bots.notify.rules`), a minimum level, optional quiet hours and an optional set of bots.
Its secrets (the Telegram bot token, the webhook's HMAC secret) are stored only as Fernet
ciphertext, like exchange keys (`lighterweb.crypto`): set/decrypt methods, no plaintext attribute.
The delivery state (failures in a row, last error) is written by the sender, shown in the admin.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models

from bots.models.bots import Bot
from bots.models.trading import EventLevel
from lighterweb.crypto import decrypt_secret, encrypt_secret


class ChannelKind(models.TextChoices):
    TELEGRAM = "telegram", "Telegram"
    WEBHOOK = "webhook", "Webhook (signed JSON)"
    EMAIL = "email", "Email"


class AlertKind(models.TextChoices):
    """What a channel subscribes to; several BotEvent kinds map to one (bots.notify.rules)."""

    BOT_STARTED = "bot_started", "Bot started or resumed"
    BOT_STOPPED = "bot_stopped", "Bot stopped"
    BOT_PAUSED = "bot_paused", "Bot paused"
    BOT_ERROR = "bot_error", "Bot error (with the reason)"
    BOT_RESTARTED = "bot_restarted", "Bot restarted by the supervisor"
    EMERGENCY = "emergency", "Emergency stop and cancel-all (who, verified or not)"
    RISK_EXIT = "risk_exit", "Risk exit (stop-loss, take-profit, position cap)"
    HEDGE = "hedge", "Hedge imbalance and repair"
    UNATTRIBUTED = "unattributed", "Unattributed position change or foreign order"
    DEADMAN = "deadman", "Dead-man's switch failed or fired"
    BUDGET = "budget", "Request budget above 80 %"
    FILLS = "fills", "Fills (a burst is one message)"
    DAILY_SUMMARY = "daily_summary", "Daily summary per account"
    OTHER = "other", "Any other event at or above the minimum level"


# Fills and "other" (every plan, every config change) are opt-in: they are chatty.
DEFAULT_ALERT_KINDS = [
    kind for kind in AlertKind.values if kind not in (AlertKind.FILLS, AlertKind.OTHER)
]


def default_alert_kinds() -> list[str]:
    """A fresh copy of the default subscription (JSONField defaults must be callables)."""
    return list(DEFAULT_ALERT_KINDS)


def validate_time_zone(value: str) -> None:
    """An IANA time zone name such as "Europe/Berlin" or "UTC"."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            f"Unknown time zone {value!r}: use a name like Europe/Berlin."
        ) from exc


class NotificationChannel(models.Model):
    """Where alerts go (Telegram chat, webhook URL or email address) and which ones."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=ChannelKind.choices)
    enabled = models.BooleanField(default=True)
    telegram_bot_token_encrypted = models.TextField(blank=True, default="", editable=False)
    telegram_chat_id = models.CharField(
        "Telegram chat id",
        max_length=64,
        blank=True,
        help_text="Send /start to your bot (with the `telegram` process running): it answers "
        "with the chat id.",
    )
    telegram_commands = models.BooleanField(
        "answer Telegram commands",
        default=True,
        help_text="Let linked operators command the bots from this Telegram bot "
        "(/status, /pnl, /bots, /pause, /stop, /emergency).",
    )
    webhook_url = models.URLField("webhook URL", max_length=500, blank=True)
    webhook_secret_encrypted = models.TextField(blank=True, default="", editable=False)
    email_to = models.EmailField("email address", blank=True)
    alert_kinds = models.JSONField(default=default_alert_kinds, blank=True)
    min_level = models.CharField(max_length=7, choices=EventLevel.choices, default=EventLevel.INFO)
    bots = models.ManyToManyField(
        Bot,
        blank=True,
        related_name="notification_channels",
        help_text="Only these bots (none selected: every bot).",
    )
    quiet_hours_start = models.TimeField(
        null=True, blank=True, help_text="From this time on, only errors are sent..."
    )
    quiet_hours_end = models.TimeField(null=True, blank=True, help_text="...until this time.")
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="Of the quiet hours and the daily summary hour, e.g. Europe/Berlin.",
    )
    summary_hour = models.PositiveSmallIntegerField(
        default=8, validators=[MaxValueValidator(23)], help_text="Hour of the daily summary."
    )
    # Delivery state, written by the sender only.
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    last_error = models.TextField(blank=True, default="", editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def __repr__(self) -> str:
        return f"<NotificationChannel {self.pk} {self.name!r} {self.kind}>"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.kind == ChannelKind.TELEGRAM and not self.telegram_chat_id:
            errors["telegram_chat_id"] = "A Telegram channel needs the chat id."
        if self.kind == ChannelKind.WEBHOOK and not self.webhook_url:
            errors["webhook_url"] = "A webhook channel needs its URL."
        if self.kind == ChannelKind.EMAIL and not self.email_to:
            errors["email_to"] = "An email channel needs an address."
        unknown = sorted(set(self.alert_kinds or []) - set(AlertKind.values))
        if not isinstance(self.alert_kinds, list) or unknown:
            errors["alert_kinds"] = f"Unknown alert kinds: {', '.join(map(str, unknown))}."
        if (self.quiet_hours_start is None) != (self.quiet_hours_end is None):
            errors["quiet_hours_end"] = "Give both ends of the quiet hours, or neither."
        if errors:
            raise ValidationError(errors)

    # -- secrets: write-only from the outside, decrypted only right before use ---------------

    def set_telegram_bot_token(self, plaintext: str) -> None:
        """Store (encrypted) the Telegram bot token; "" clears it."""
        self.telegram_bot_token_encrypted = encrypt_secret(plaintext)

    def decrypt_telegram_bot_token(self) -> str:
        """The bot token in plaintext, for the Telegram client only ("" when unset)."""
        return decrypt_secret(self.telegram_bot_token_encrypted)

    def set_webhook_secret(self, plaintext: str) -> None:
        """Store (encrypted) the webhook's HMAC secret; "" clears it (unsigned requests)."""
        self.webhook_secret_encrypted = encrypt_secret(plaintext)

    def decrypt_webhook_secret(self) -> str:
        """The HMAC secret in plaintext ("" when unset)."""
        return decrypt_secret(self.webhook_secret_encrypted)

    @property
    def has_telegram_bot_token(self) -> bool:
        return bool(self.telegram_bot_token_encrypted)

    @property
    def has_webhook_secret(self) -> bool:
        return bool(self.webhook_secret_encrypted)

    # -- filters --------------------------------------------------------------------------

    def in_quiet_hours(self, now: datetime) -> bool:
        """Whether `now` (aware) falls in the quiet hours, in the channel's time zone.

        A window whose end is before its start spans midnight (22:00 to 07:00).
        """
        start, end = self.quiet_hours_start, self.quiet_hours_end
        if start is None or end is None or start == end:
            return False
        local: time = now.astimezone(zoneinfo.ZoneInfo(self.time_zone)).time()
        if start < end:
            return start <= local < end
        return local >= start or local < end

    def local_now(self, now: datetime) -> datetime:
        """`now` in the channel's time zone (for the daily summary hour)."""
        return now.astimezone(zoneinfo.ZoneInfo(self.time_zone))


class TelegramLink(models.Model):
    """A Telegram user allowed to send commands, as one LighterWeb user.

    Commands are checked against the LighterWeb user's rights on every message
    (`bots.notify.access.user_is_operator`), so revoking the user's rights revokes Telegram too.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="telegram_links"
    )
    telegram_user_id = models.BigIntegerField(
        "Telegram user id",
        unique=True,
        help_text="Send /start to the bot: it answers with your Telegram user id.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"Telegram {self.telegram_user_id} -> {self.user}"
