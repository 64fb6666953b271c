"""Admin of notification channels (with a "Send test" action) and Telegram links."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from bots.models import NotificationChannel, TelegramLink
from bots.notify import dispatch, sender
from bots.notify.forms import NotificationChannelAdminForm
from bots.notify.http import DeliveryFailed

# bots.admin's palette; not imported from there, because bots.admin imports this module.
DELIVERY_COLOURS = {"ok": "#2e7d32", "failed": "#c62828", "never": "#9e9e9e"}


def _badge(state: str, label: str) -> SafeString:
    return format_html(
        '<span class="lw-badge" style="background:{}">{}</span>', DELIVERY_COLOURS[state], label
    )


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = NotificationChannelAdminForm
    list_display = ["name", "kind", "enabled", "min_level", "destination", "delivery"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    filter_horizontal = ["bots"]
    delivery_fields = [
        "delivery",
        "consecutive_failures",
        "last_error",
        "last_failure_at",
        "last_success_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["secrets", *delivery_fields]
    fieldsets = [
        (None, {"fields": ["name", "kind", "enabled"]}),
        (
            "Destination (fill in the part of the chosen kind)",
            {
                "fields": [
                    "telegram_bot_token",
                    "telegram_chat_id",
                    "telegram_commands",
                    "webhook_url",
                    "webhook_secret",
                    "clear_webhook_secret",
                    "email_to",
                    "secrets",
                ]
            },
        ),
        ("What to send", {"fields": ["alert_kinds", "min_level", "bots"]}),
        (
            "When",
            {"fields": ["time_zone", "quiet_hours_start", "quiet_hours_end", "summary_hour"]},
        ),
        ("Delivery (kept by the sender)", {"fields": tuple(delivery_fields)}),
    ]
    actions = ["send_test"]

    @admin.display(description="Destination")
    def destination(self, obj: NotificationChannel) -> str:
        if obj.kind == "telegram":
            return f"chat {obj.telegram_chat_id}"
        if obj.kind == "webhook":
            # Only the host: many webhook URLs carry a secret in their path or query.
            return obj.webhook_url.split("/")[2] if "//" in obj.webhook_url else "-"
        return obj.email_to

    @admin.display(description="Stored secrets")
    def secrets(self, obj: NotificationChannel) -> str:
        token = "bot token set" if obj.has_telegram_bot_token else "no bot token"
        secret = "HMAC secret set" if obj.has_webhook_secret else "no HMAC secret"
        return f"{token}; {secret}"

    @admin.display(description="Delivery", ordering="consecutive_failures")
    def delivery(self, obj: NotificationChannel) -> SafeString:
        if obj.consecutive_failures:
            return _badge("failed", f"failing ({obj.consecutive_failures} in a row)")
        if obj.last_success_at is None:
            return _badge("never", "nothing sent yet")
        return _badge("ok", "ok")

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        dispatch.routes_invalidate()  # this process routes the next event with the new filters

    @admin.action(description="Send test")
    def send_test(self, request: HttpRequest, queryset: QuerySet[NotificationChannel]) -> None:
        for channel in queryset:
            try:
                sender.channel_test_send(channel)
            except DeliveryFailed as exc:
                messages.error(request, f"{channel}: {exc}")
            else:
                messages.success(request, f"{channel}: test message sent.")


@admin.register(TelegramLink)
class TelegramLinkAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["telegram_user_id", "user", "created_at"]
    search_fields = ["user__username", "telegram_user_id"]
    autocomplete_fields = ["user"]
