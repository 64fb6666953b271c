"""Re-encrypt every stored secret under the first key of FIELD_ENCRYPTION_KEYS.

Rotation: put a new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), run this
command, then remove the old keys.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from bots.models import ExchangeAccount, NotificationChannel
from lighterweb.crypto import SecretDecryptionError, rotate_secret

logger = logging.getLogger(__name__)

SECRET_FIELDS = ("api_private_key_encrypted", "eth_private_key_encrypted")
CHANNEL_SECRET_FIELDS = ("telegram_bot_token_encrypted", "webhook_secret_encrypted")


class Command(BaseCommand):
    help = "Re-encrypt stored private keys and channel secrets under the first key."

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        with transaction.atomic():
            for account in ExchangeAccount.objects.select_for_update().order_by("pk"):
                try:
                    values = {name: rotate_secret(getattr(account, name)) for name in SECRET_FIELDS}
                except SecretDecryptionError as exc:
                    raise CommandError(
                        f"account {account.pk} ({account.name}): {exc}; nothing was changed"
                    ) from exc
                ExchangeAccount.objects.filter(pk=account.pk).update(**values)
                rotated += 1
            channels = self._rotate_channels()
        logger.info("re-encrypted the secrets of %d account(s), %d channel(s)", rotated, channels)
        self.stdout.write(
            f"Re-encrypted the secrets of {rotated} account(s) and {channels} notification "
            "channel(s)."
        )

    def _rotate_channels(self) -> int:
        rotated = 0
        for channel in NotificationChannel.objects.select_for_update().order_by("pk"):
            try:
                values = {
                    name: rotate_secret(getattr(channel, name)) for name in CHANNEL_SECRET_FIELDS
                }
            except SecretDecryptionError as exc:
                raise CommandError(
                    f"notification channel {channel.pk} ({channel.name}): {exc}; "
                    "nothing was changed"
                ) from exc
            NotificationChannel.objects.filter(pk=channel.pk).update(**values)
            rotated += 1
        return rotated
