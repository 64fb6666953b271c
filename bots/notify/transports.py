"""Sending one notification through one channel: Telegram, a signed webhook, or email.

Webhook signature: the body is the notification's JSON; with a secret set, the request carries
`X-LighterWeb-Timestamp: <unix seconds>` and
`X-LighterWeb-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the secret>`.
A receiver recomputes the HMAC over the raw body, compares in constant time and rejects old
timestamps (replays). Every failure is a `DeliveryFailed` (transient or not) for the sender.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
from collections.abc import Callable

from django.conf import settings
from django.core.mail import send_mail

from bots.models import ChannelKind, NotificationChannel
from bots.notify import telegram
from bots.notify.http import DeliveryFailed, post_json
from bots.notify.messages import Notification
from lighterweb.crypto import SecretDecryptionError

SIGNATURE_HEADER = "X-LighterWeb-Signature"
TIMESTAMP_HEADER = "X-LighterWeb-Timestamp"


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def webhook_send(channel: NotificationChannel, notification: Notification) -> None:
    """POST the notification as JSON, signed when the channel has a secret."""
    body = json.dumps(notification.as_dict(), sort_keys=True, default=str).encode()
    headers = {"User-Agent": "LighterWeb-notify/1"}
    secret = _secret(channel.decrypt_webhook_secret, channel)
    if secret:
        timestamp = str(int(time.time()))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = webhook_signature(secret, timestamp, body)
    post_json(channel.webhook_url, body, headers, what="webhook")


def telegram_send(channel: NotificationChannel, notification: Notification) -> None:
    """Send the notification's text to the channel's Telegram chat."""
    token = _secret(channel.decrypt_telegram_bot_token, channel)
    if not token:
        raise DeliveryFailed("no Telegram bot token stored", transient=False)
    telegram.send_message(token, channel.telegram_chat_id, notification.plain_text)


def email_send(channel: NotificationChannel, notification: Notification) -> None:
    """Mail the notification through Django's configured email backend (EMAIL_URL)."""
    try:
        send_mail(
            subject=notification.title[:200],
            message=notification.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[channel.email_to],
        )
    except (smtplib.SMTPException, OSError) as exc:
        permanent = isinstance(exc, smtplib.SMTPRecipientsRefused)
        raise DeliveryFailed(
            f"email: {type(exc).__name__}: {exc}", transient=not permanent
        ) from None


def _secret(decrypt: Callable[[], str], channel: NotificationChannel) -> str:
    try:
        return decrypt()
    except SecretDecryptionError as exc:
        raise DeliveryFailed(f"{channel.name}: {exc}", transient=False) from None


SENDERS = {
    ChannelKind.TELEGRAM: telegram_send,
    ChannelKind.WEBHOOK: webhook_send,
    ChannelKind.EMAIL: email_send,
}


def send(channel: NotificationChannel, notification: Notification) -> None:
    """Send through the channel's transport (raises DeliveryFailed)."""
    SENDERS[ChannelKind(channel.kind)](channel, notification)
