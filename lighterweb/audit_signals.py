"""Auth events into the audit log: login, failed login, logout and django-axes' lockout."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from lighterweb import audit


@receiver(user_logged_in)
def _logged_in(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    verified = " with a two-factor code" if getattr(user, "otp_device", None) else ""
    audit.record(
        request, "login", f"logged in{verified}", actor=user.get_username(), source="login"
    )


@receiver(user_logged_out)
def _logged_out(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit.record(request, "logout", "logged out", actor=user.get_username(), source="login")


@receiver(user_login_failed)
def _login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Only the username: Django has already starred the password, and nothing else is kept.
    username = str(credentials.get("username", ""))[:150]
    audit.record(
        request, "login_failed", "wrong credentials", actor=username or "?", source="login"
    )


@receiver(user_locked_out)
def _locked_out(
    sender: Any, request: HttpRequest, username: str | None, ip_address: str | None, **kwargs: Any
) -> None:
    audit.record(
        request,
        "lockout",
        f"locked out after too many failed logins (ip {ip_address})",
        actor=str(username or "?")[:150],
        source="login",
    )
