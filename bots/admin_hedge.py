"""Hedge bots in the admin: declarative, like the grid's; actions are one-line service calls.

Registered from bots.admin. The lifecycle actions are the grid's services (they take any bot).
"""

from __future__ import annotations

from functools import partial

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from bots import services
from bots.admin_helpers import BotAdminMixin
from bots.models import HedgeBot


@admin.register(HedgeBot)
class HedgeBotAdmin(BotAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "name",
        "account",
        "taker_account",
        "market",
        "status_badge",
        "desired_state",
        "direction",
        "size",
        "updated_at",
    ]
    list_filter = ["status", "desired_state", "direction", "market__symbol"]
    search_fields = ["name", "market__symbol", "account__name", "taker_account__name"]
    list_select_related = ["account", "taker_account", "market"]
    autocomplete_fields = ["account", "taker_account"]
    fixed_fields = ("account", "taker_account", "market")

    engine_fields = [
        "desired_state",
        "status",
        "status_message",
        "cancel_all_requested_at",
        "started_at",
        "stopped_at",
        "heartbeat_at",
        "lease_fence",
        "crash_count",
        "last_crash_at",
        "strategy_snapshot",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [*engine_fields, "recent_events"]
    fieldsets = [
        (
            None,
            {
                "fields": ["name", "account", "taker_account", "market"],
                "description": "Account A (maker) rests post-only orders; account B (taker) "
                "hedges every fill of A at once with a market order.",
            },
        ),
        ("Cycle", {"fields": ["direction", "size_mode", "size", "cycles"]}),
        (
            "Maker price (A)",
            {"fields": ["price_mode", "book_level", "offset_bps", "order_timeout_ms"]},
        ),
        (
            "Timing",
            {"fields": ["hold_min_ms", "hold_max_ms", "cooldown_min_ms", "cooldown_max_ms"]},
        ),
        (
            "Hedge and risk",
            {
                "fields": [
                    "max_slippage_bps",
                    "imbalance_tolerance_base",
                    "hedge_max_attempts",
                    "hedge_timeout_ms",
                    "repair_attempts",
                    "stop_loss_quote",
                ]
            },
        ),
        (
            "Leverage per leg",
            {"fields": ["leverage_a", "margin_mode_a", "leverage_b", "margin_mode_b"]},
        ),
        ("State (owned by the engine)", {"fields": tuple(engine_fields)}),
        ("Recent events", {"fields": ["recent_events"]}),
    ]
    # No pause: a hedge bot does not pause (`services.bot_pause`); Stop keeps both positions.
    actions = ["start", "stop", "stop_close", "emergency_stop", "delete_selected"]

    @admin.action(description="Start", permissions=["control"])
    def start(self, request: HttpRequest, queryset: QuerySet[HedgeBot]) -> None:
        self._act(request, queryset, services.bot_start, "Start requested")

    @admin.action(description="Stop (cancel A's orders, keep positions)", permissions=["control"])
    def stop(self, request: HttpRequest, queryset: QuerySet[HedgeBot]) -> None:
        self._act(request, queryset, services.bot_stop, "Stop requested")

    @admin.action(
        description="Stop and close both legs (reduce-only at market, confirmed)",
        permissions=["control"],
    )
    def stop_close(
        self, request: HttpRequest, queryset: QuerySet[HedgeBot]
    ) -> TemplateResponse | None:
        if request.POST.get("confirm") != "close":
            # Nothing happens until the operator confirms on this page.
            context = {
                **self.admin_site.each_context(request),
                "title": "Stop and close both legs",
                "bots": list(queryset),
                "action": "stop_close",
                "opts": self.opts,
            }
            return TemplateResponse(request, "admin/bots/hedge_stop_close.html", context)
        self._act(
            request,
            queryset,
            partial(services.hedge_bot_stop_close, confirm=True),
            "Stop and close both legs requested",
            refused=(services.BotActionRefused, services.ExchangeActionFailed),
            audit_kind="bot_stop_close",
        )
        return None

    @admin.action(
        description="Emergency stop (cancel all orders on both accounts)",
        permissions=["control"],
    )
    def emergency_stop(self, request: HttpRequest, queryset: QuerySet[HedgeBot]) -> None:
        self._act(request, queryset, services.bot_emergency_stop, "Emergency stop requested")
