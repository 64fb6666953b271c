"""Pieces shared by the admin modules (bots.admin, bots.admin_accounts): badges, bulk actions."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import slugify

from bots.figures import plain


def badge(value: str, label: str | None = None) -> SafeString:
    """A coloured status pill: one CSS class per value (static/lighterweb/admin.css), never an
    inline style, which the Content-Security-Policy refuses."""
    return format_html(
        '<span class="lw-badge lw-badge-{}">{}</span>', slugify(value), label or value
    )


class PlainDecimalInput(forms.NumberInput):
    """A number input that shows `50`, not the database's `50.0000000000`."""

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, Decimal):
            return plain(value)
        return super().format_value(value)  # type: ignore[no-any-return]


def each(
    request: HttpRequest,
    items: QuerySet[Any],
    call: Callable[[Any], object],
    refused: tuple[type[Exception], ...],
    done: str,
) -> None:
    """Apply `call` to every selected item; one admin message per refusal, one for successes."""
    ok = 0
    for item in items:
        try:
            call(item)
        except refused as exc:
            messages.error(request, f"{item}: {exc}")
        else:
            ok += 1
    if ok:
        messages.success(request, f"{done}: {ok} item(s).")
