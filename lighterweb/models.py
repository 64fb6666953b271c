"""API tokens: per-user bearer tokens for scripts, created in the admin, stored hashed.

A token is shown once, when it is created; the database keeps only its SHA-256 (a token carries
256 bits of randomness, so a fast hash is enough: nothing to brute-force) and a short prefix so a
user can tell tokens apart. Revoking sets `revoked_at`; a revoked token never authenticates again.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

TOKEN_PREFIX = "lw_"  # noqa: S105 - a label in front of random bytes, not a secret
TOKEN_RANDOM_BYTES = 32
DISPLAY_PREFIX_CHARS = 10
# Recording every use would turn each API read into a write; once a minute says enough.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def token_digest(raw: str) -> str:
    """The stored form of a raw token (hex SHA-256)."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token of one user (`Authorization: Bearer lw_...`)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'backup script'.")
    prefix = models.CharField(max_length=DISPLAY_PREFIX_CHARS, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    read_only = models.BooleanField(
        default=False,
        help_text="Only GET requests: the token reads what its user may read and changes nothing.",
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def __repr__(self) -> str:
        return f"<ApiToken {self.pk} {self.prefix}… user={self.user_id}>"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @sensitive_variables()
    def generate(self) -> str:
        """Give this (unsaved) token a fresh secret; returns the raw token, never stored."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_RANDOM_BYTES)
        self.token_hash = token_digest(raw)
        self.prefix = raw[:DISPLAY_PREFIX_CHARS]
        return raw

    @classmethod
    @sensitive_variables()
    def issue(cls, user: Any, name: str) -> tuple[ApiToken, str]:
        """Create a token for `user`; returns the row and the raw token (show it once)."""
        token = cls(user=user, name=name)
        raw = token.generate()
        token.save()
        return token, raw

    @classmethod
    @sensitive_variables()
    def authenticate(cls, raw: str) -> ApiToken | None:
        """The active token matching `raw` (with its user), or None; records the use."""
        token = (
            cls.objects.select_related("user")
            .filter(token_hash=token_digest(raw), revoked_at__isnull=True)
            .first()
        )
        if token is None or not token.user.is_active:
            return None
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            cls.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return token

    def revoke(self) -> None:
        """Refuse this token from now on (idempotent)."""
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            type(self).objects.filter(pk=self.pk).update(revoked_at=self.revoked_at)


class AuditEntry(models.Model):
    """One security-relevant action: who did what, when, from where (append-only).

    Written by lighterweb.audit for control actions, key changes, token creation/revocation,
    logins (and failures), lockouts and unlocks. The admin lists and filters these but can
    neither add, change nor delete one.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=40, db_index=True)
    source = models.CharField(
        max_length=20, db_index=True, help_text="admin, api, dashboard, login, account, system"
    )
    actor = models.CharField(max_length=200, help_text="Username, and the API token's prefix.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    target = models.CharField(max_length=200, blank=True, help_text="What it acted on.")
    detail = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action}"
