"""The logged-in user's own security pages: set up / enter a two-factor code, log out everywhere."""

from __future__ import annotations

import base64
import logging

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp import match_token

from lighterweb import audit
from lighterweb.sessions import sessions_end_for
from lighterweb.twofactor import has_device, session_verified, setup_device

logger = logging.getLogger(__name__)


class CodeForm(forms.Form):
    otp_token = forms.CharField(label="Code", max_length=8)


@never_cache
@login_required
@sensitive_post_parameters("otp_token")
@sensitive_variables()
def two_factor(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator (show its key, confirm with a code) or verify this session."""
    user = request.user
    if session_verified(request):
        return render(
            request, "lighterweb/two_factor.html", {"title": "Two-factor login", "done": True}
        )
    confirming = has_device(user)
    device = None if confirming else setup_device(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token = form.cleaned_data["otp_token"].strip()
        verified = match_token(user, token) if confirming else None
        if device is not None and device.verify_token(token):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            verified = device
            audit.record(request, "2fa_enabled", f"authenticator added for {user}")
        if verified is not None:
            otp_login(request, verified)
            messages.success(request, "Two-factor login is on for this session.")
            target = request.GET.get("next", "")
            if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
                target = "/admin/"
            return redirect(target or "/admin/")
        form.add_error("otp_token", "That code is not the current one.")
    context = {
        "title": "Two-factor login",
        "form": form,
        "confirming": confirming,
        "secret": None if device is None else base64.b32encode(device.bin_key).decode(),
        "config_url": None if device is None else device.config_url,
    }
    return render(request, "lighterweb/two_factor.html", context)


@require_POST
@login_required
def logout_everywhere(request: HttpRequest) -> HttpResponse:
    """End every session of the user (this one too): every browser must log in again."""
    user = request.user
    audit.record(request, "logout_everywhere", f"{user} logged out everywhere")
    ended = sessions_end_for(user)
    logout(request)
    logger.info("user %s logged out everywhere (%d sessions)", user.pk, ended)
    return redirect("admin:login")
