"""The configuration UI: declarative admin; every action is a one-line call to bots.services.

Exchange accounts and hedge bots have their own modules (bots.admin_accounts, bots.admin_hedge,
registered from here).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from bots import admin_accounts, admin_hedge, permissions, selectors, services
from bots.admin_helpers import badge, each
from bots.models import BotEvent, Fill, FundingPayment, GridBot, Market, Order
from lighterweb import audit

__all__ = ["admin_accounts", "admin_hedge", "badge"]


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows the engine or the exchange owns: visible, never typed by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Market)
class MarketAdmin(ReadOnlyAdmin):
    list_display = [
        "symbol",
        "network",
        "market_id",
        "size_decimals",
        "price_decimals",
        "min_base_amount",
        "min_quote_amount",
        "max_leverage",
        "last_price",
        "synced_at",
    ]
    list_filter = ["network"]
    search_fields = ["symbol"]


@admin.register(GridBot)
class GridBotAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "name",
        "account",
        "market",
        "status_badge",
        "desired_state",
        "levels_per_side",
        "step",
        "size",
        "updated_at",
    ]
    list_filter = ["status", "desired_state", "spacing_mode", "account", "market__symbol"]
    search_fields = ["name", "market__symbol", "account__name"]
    list_select_related = ["account", "market"]
    autocomplete_fields = ["account"]
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
        "anchor_price",
        "centre_index",
        "last_price",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [*engine_fields, "recent_events"]
    fieldsets = [
        (None, {"fields": ["name", "account", "market"]}),
        (
            "Grid",
            {"fields": ["spacing_mode", "step", "levels_per_side", "size_mode", "size"]},
        ),
        (
            "Risk",
            {
                "fields": [
                    "post_only",
                    "max_open_orders",
                    "max_position_notional",
                    "leverage",
                    "margin_mode",
                    "stop_loss_price",
                    "take_profit_price",
                    "flatten_on_stop",
                ]
            },
        ),
        ("State (owned by the engine)", {"fields": tuple(engine_fields)}),
        ("Recent events", {"fields": ["recent_events"]}),
    ]
    actions = ["start", "pause", "stop", "emergency_stop", "cancel_all"]

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: GridBot) -> SafeString:
        return badge(obj.status, obj.get_status_display())

    @admin.display(description="Last 20 events")
    def recent_events(self, obj: GridBot) -> SafeString | str:
        if obj.pk is None:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    event.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    badge(event.level),
                    event.kind,
                    event.message,
                )
                for event in selectors.bot_event_list(obj, limit=20)
            ),
        )
        return format_html("<table>{}</table>", rows) if rows else "none yet"

    def has_control_permission(self, request: HttpRequest) -> bool:
        """Lifecycle actions need `bots.control_bot` (the operator role), not just staff."""
        return bool(request.user.has_perm(permissions.CONTROL))

    def _act(self, request: HttpRequest, queryset: QuerySet[GridBot], call: Any, done: str) -> None:
        actor = request.user.get_username()

        def act(bot: GridBot) -> None:
            call(bot, actor=actor)
            audit.record(request, f"bot_{call.__name__.removeprefix('bot_')}", done, target=bot)

        each(
            request,
            queryset.select_related("account", "market"),
            act,
            (services.BotActionRefused,),
            done,
        )

    @admin.action(description="Start", permissions=["control"])
    def start(self, request: HttpRequest, queryset: QuerySet[GridBot]) -> None:
        self._act(request, queryset, services.bot_start, "Start requested")

    @admin.action(description="Pause (keep orders, place none)", permissions=["control"])
    def pause(self, request: HttpRequest, queryset: QuerySet[GridBot]) -> None:
        self._act(request, queryset, services.bot_pause, "Pause requested")

    @admin.action(description="Stop (cancel the bot's orders)", permissions=["control"])
    def stop(self, request: HttpRequest, queryset: QuerySet[GridBot]) -> None:
        self._act(request, queryset, services.bot_stop, "Stop requested")

    @admin.action(
        description="Emergency stop (stop and cancel all orders)", permissions=["control"]
    )
    def emergency_stop(self, request: HttpRequest, queryset: QuerySet[GridBot]) -> None:
        self._act(request, queryset, services.bot_emergency_stop, "Emergency stop requested")

    @admin.action(
        description="Cancel all orders (verified; the bot is left paused)", permissions=["control"]
    )
    def cancel_all(self, request: HttpRequest, queryset: QuerySet[GridBot]) -> None:
        self._act(request, queryset, services.bot_cancel_all, "Cancel all requested")


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = [
        "client_order_index",
        "bot",
        "market",
        "side",
        "price",
        "size_base",
        "filled_base",
        "status_badge",
        "exchange_status",
        "level_index",
        "sent_at",
        "resolved_at",
        "updated_at",
    ]
    list_filter = ["status", "side", "market__symbol", "bot"]
    search_fields = ["client_order_index", "order_index", "reason", "bot__name"]
    list_select_related = ["bot", "market"]

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Order) -> SafeString:
        return badge(obj.status, obj.get_status_display())


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = [
        "trade_id",
        "bot",
        "market",
        "side",
        "price",
        "size_base",
        "fee",
        "is_maker",
        "level_index",
        "round_trip_id",
        "executed_at",
    ]
    list_filter = ["side", "is_maker", "market__symbol", "bot"]
    search_fields = ["trade_id", "bot__name"]
    list_select_related = ["bot", "market"]
    date_hierarchy = "executed_at"


@admin.register(FundingPayment)
class FundingPaymentAdmin(ReadOnlyAdmin):
    list_display = ["paid_at", "account", "market", "bot", "amount", "rate", "position_size_base"]
    list_filter = ["market__symbol", "account", "bot"]
    list_select_related = ["account", "market", "bot"]
    date_hierarchy = "paid_at"


@admin.register(BotEvent)
class BotEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "bot", "level_badge", "kind", "message"]
    list_filter = ["level", "kind", "bot"]
    search_fields = ["message", "kind", "bot__name"]
    list_select_related = ["bot"]

    @admin.display(description="Level", ordering="level")
    def level_badge(self, obj: BotEvent) -> SafeString:
        return badge(obj.level, obj.get_level_display())


from bots.notify import admin as notify_admin  # noqa: E402, F401 - registers the alerts' admin
