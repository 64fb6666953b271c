"""Two-factor login (TOTP, django-otp) for the *admin* role.

Anyone may add an authenticator app on /account/2fa/; from then on their login asks for its
6-digit code. With `REQUIRE_2FA` (default: on when DEBUG is off) superusers and members of the
admin group must: until their session is verified with a code, every page sends them to
/account/2fa/ to set one up or enter it, and session calls to the API get 403. API tokens are
not affected (a token is itself a 256-bit secret, created by a verified session). A wrong code
counts as a failed login for django-axes' throttling. An admin removes a lost device in the admin
(OTP / TOTP devices).
"""

from __future__ import annotations

import logging
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django_otp import devices_for_user, match_token
from django_otp.plugins.otp_totp.models import TOTPDevice

from lighterweb.roles import ADMIN

logger = logging.getLogger(__name__)


def two_factor_required(user: Any) -> bool:
    """Whether `user` must log in with a second factor (REQUIRE_2FA and the admin role)."""
    if not settings.REQUIRE_2FA or not user.is_authenticated:
        return False
    return bool(user.is_superuser or user.groups.filter(name=ADMIN).exists())


def has_device(user: Any) -> bool:
    """Whether `user` has a confirmed authenticator."""
    return any(True for _ in devices_for_user(user, confirmed=True))


def session_verified(request: HttpRequest) -> bool:
    """Whether this session was logged in (or confirmed) with a code."""
    is_verified = getattr(request.user, "is_verified", None)
    return bool(is_verified and is_verified())


class LoginForm(AdminAuthenticationForm):
    """The admin login with a code field, required once the user has an authenticator."""

    otp_token = forms.CharField(
        label="Authenticator code",
        required=False,
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text="The 6-digit code of your authenticator app, if you set one up.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user = self.get_user()
        if user is None or not has_device(user):
            return cleaned
        device = match_token(user, (cleaned.get("otp_token") or "").strip())
        if device is None:
            # Counted by django-axes like a wrong password: codes cannot be brute-forced either.
            user_login_failed.send(
                sender=__name__,
                credentials={"username": user.get_username()},
                request=self.request,
            )
            raise ValidationError(
                "Enter the current code of your authenticator app.", code="otp_invalid"
            )
        # django_otp's login hook stores this device in the session: it is now verified.
        user.otp_device = device  # type: ignore[attr-defined]
        return cleaned


EXEMPT_PREFIXES = ("/account/2fa/", "/admin/logout/", "/admin/login/", "/static/", "/healthz")


class Require2FAMiddleware:
    """Confines an admin-role session without a verified code to /account/2fa/."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.user.is_authenticated
            and not request.path.startswith(EXEMPT_PREFIXES)
            and not session_verified(request)
            and two_factor_required(request.user)
        ):
            if request.path.startswith("/api/"):
                if request.headers.get("Authorization", "").lower().startswith("bearer "):
                    # token callers are not session users
                    return cast(HttpResponse, self.get_response(request))
                return JsonResponse(
                    {
                        "detail": "Two-factor login required: set it up at /account/2fa/.",
                        "code": "two_factor_required",
                        "errors": [],
                    },
                    status=403,
                )
            return redirect(f"{reverse('two-factor')}?{urlencode({'next': request.path})}")
        return cast(HttpResponse, self.get_response(request))


def setup_device(user: Any) -> TOTPDevice:
    """The user's unconfirmed authenticator being set up (created on first visit)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device
