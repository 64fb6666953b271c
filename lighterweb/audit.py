"""The audit log: `record()` one security-relevant action with its actor, time and source.

Callers are the interfaces (admin actions, API operations, dashboard views, the account pages)
and the auth signals (lighterweb.audit_signals: logins, failures, lockouts). Nothing secret is
ever recorded: an entry names a token by its prefix and a key change by its field name only.
Every entry is also a log line, so the log and the table tell the same story.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest

from lighterweb.models import AuditEntry

logger = logging.getLogger(__name__)

SOURCES = {"/admin/": "admin", "/api/": "api", "/dashboard/": "dashboard", "/account/": "account"}


def source_of(request: HttpRequest | None) -> str:
    """Where the request came in: admin, api, dashboard, account ("system" without one)."""
    if request is None:
        return "system"
    for prefix, name in SOURCES.items():
        if request.path.startswith(prefix):
            return name
    return "web"


def actor_of(request: HttpRequest | None) -> str:
    """The user's name, with the API token's prefix when one authenticated the request."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return "anonymous"
    token = getattr(getattr(request, "auth", None), "prefix", None)
    return f"{user.get_username()} (api token {token}…)" if token else user.get_username()


def record(
    request: HttpRequest | None,
    action: str,
    detail: str = "",
    *,
    target: Any = "",
    actor: str | None = None,
    source: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an audit entry (and log it); `actor`/`source` default to the request's."""
    user = getattr(request, "user", None)
    entry = AuditEntry.objects.create(
        action=action,
        source=source or source_of(request),
        actor=(actor or actor_of(request))[:200],
        user=user if user is not None and user.is_authenticated else None,
        ip_address=(request.META.get("REMOTE_ADDR") or None) if request is not None else None,
        target=str(target)[:200],
        detail=detail,
        data=data or {},
    )
    logger.info(
        "audit: %s by %s via %s on %s: %s",
        action,
        entry.actor,
        entry.source,
        entry.target or "-",
        detail,
    )
    return entry
