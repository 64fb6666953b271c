"""The configuration UI: declarative admin; every action is a one-line call to bots.services.

Exchange accounts and hedge bots have their own modules (bots.admin_accounts, bots.admin_hedge,
registered from here).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.utils.safestring import SafeString

from bots import (
    admin_accounts,
    admin_hedge,
    exports,
    figures,
    ownership,
    selectors,
    services,
)
from bots.admin_helpers import BotAdminMixin, PlainDecimalInput, badge, each
from bots.backtest.admin import backtest_action, replay_action, sweep_action
from bots.dashboard.actions import bot_actions
from bots.forms import ExportForm
from bots.models import BotEvent, BotStatus, Fill, FundingPayment, GridBot, Market, Order
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
        "min_base",
        "min_quote",
        "max_leverage_x",
        "last_price_text",
        "synced_at",
    ]
    list_filter = ["network"]
    search_fields = ["symbol"]

    @admin.display(description="Min size", ordering="min_base_amount")
    def min_base(self, obj: Market) -> str:
        return figures.size(obj.min_base_amount, obj, unit=True)

    @admin.display(description="Min notional", ordering="min_quote_amount")
    def min_quote(self, obj: Market) -> str:
        return figures.quote(obj.min_quote_amount, unit=True)

    @admin.display(description="Max leverage", ordering="max_leverage")
    def max_leverage_x(self, obj: Market) -> str:
        return "-" if obj.max_leverage is None else f"{figures.plain(obj.max_leverage)}x"

    @admin.display(description="Last price", ordering="last_price")
    def last_price_text(self, obj: Market) -> str:
        return figures.price(obj.last_price, obj, unit=True)


@admin.register(GridBot)
class GridBotAdmin(BotAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "name",
        "account",
        "market",
        "status_badge",
        "desired_state",
        "levels_per_side",
        "step_text",
        "size_text",
        "updated_at",
    ]
    list_filter = ["status", "desired_state", "spacing_mode", "account", "market__symbol"]
    search_fields = ["name", "market__symbol", "account__name"]
    list_select_related = ["account", "market"]
    autocomplete_fields = ["account"]
    fixed_fields = ("account", "market")

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
        "anchor_price_text",
        "centre_text",
        "last_price_text",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [*engine_fields, "recent_events"]
    formfield_overrides = {
        models.DecimalField: {"widget": PlainDecimalInput(attrs={"step": "any"})}
    }

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The bot's page with the dashboard's control buttons (bots.dashboard.actions)."""
        bot = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if bot is not None:
            count = selectors.bot_open_order_count(bot)
            extra["bot_controls"] = bot_actions(bot, open_orders=count)
        return super().change_view(request, object_id, form_url, extra)

    @admin.display(description="Step", ordering="step")
    def step_text(self, obj: GridBot) -> str:
        if obj.spacing_mode == "geometric":
            return f"{figures.plain(obj.step)} %"
        return figures.price(obj.step, obj.market, unit=True)

    @admin.display(description="Size per level", ordering="size")
    def size_text(self, obj: GridBot) -> str:
        if obj.size_mode == "quote":
            return figures.quote(obj.size, unit=True)
        return figures.size(obj.size, obj.market, unit=True)

    @admin.display(description="Anchor price")
    def anchor_price_text(self, obj: GridBot) -> str:
        return figures.price(obj.anchor_price, obj.market, unit=True)

    @admin.display(description="Centre (the empty level)")
    def centre_text(self, obj: GridBot) -> str:
        if obj.centre_index is None:
            return "-"
        price = figures.price(obj.centre_price(), obj.market, unit=True)
        return f"{price} (level {obj.centre_index} from the anchor)"

    @admin.display(description="Last price (book mid)")
    def last_price_text(self, obj: GridBot) -> str:
        return figures.price(obj.last_price, obj.market, unit=True)

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
        ("State (owned by the engine)", {"fields": tuple(engine_fields), "classes": ["collapse"]}),
        ("Recent events", {"fields": ["recent_events"]}),
    ]
    actions = [
        "start",
        "pause",
        "stop",
        "emergency_stop",
        "cancel_all",
        "export_csv",
        backtest_action,
        sweep_action,
        replay_action,
        "delete_selected",
    ]

    @admin.action(description="Start", permissions=["control"])
    def start(self, request: HttpRequest, queryset: QuerySet[GridBot]) -> TemplateResponse | None:
        bots = list(queryset.select_related("account", "market"))
        asked = [
            {"bot": bot, "text": question.describe(bot.market.symbol)}
            for bot in bots
            if bot.status in (BotStatus.STOPPED, BotStatus.ERROR)
            and (question := ownership.start_question(bot)).size_base != 0
        ]
        if asked and request.POST.get("confirm") != "start":
            # Adopt or leave is the operator's explicit choice, asked on this page.
            context = {
                **self.admin_site.each_context(request),
                "title": "Start: whose position?",
                "bots": bots,
                "asked": asked,
                "action": "start",
                "opts": self.opts,
            }
            return TemplateResponse(request, "admin/bots/start_ownership.html", context)
        actor = request.user.get_username()

        def start_one(bot: GridBot) -> None:
            choice = request.POST.get(f"unattributed_{bot.pk}") or None
            bot = services.bot_start(bot, actor=actor, unattributed=choice)
            done = "Start requested"
            if bot.unattributed_choice:
                size = ownership.plain(bot.unattributed_choice_base or Decimal(0))
                done += f" ({bot.unattributed_choice} {size} {bot.market.symbol})"
            audit.record(request, "bot_start", done, target=bot)

        each(request, queryset.select_related("account", "market"), start_one,
             (services.BotActionRefused,), "Start requested")  # fmt: skip
        return None

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

    @admin.action(description="Export fills, orders or events (CSV)", permissions=["view"])
    def export_csv(
        self, request: HttpRequest, queryset: QuerySet[GridBot]
    ) -> HttpResponseBase | None:
        form = ExportForm(request.POST if "export" in request.POST else None)
        if form.is_valid():
            kind = form.cleaned_data["kind"]
            if not request.user.has_perm(exports.PERMISSIONS[kind]):
                messages.error(request, f"Your role does not allow exporting {kind}.")
                return None
            bots = list(queryset)
            name = bots[0].name if len(bots) == 1 else "bots"
            return exports.export_response(
                kind,
                [bot.pk for bot in bots],
                form.cleaned_data["since"],
                form.cleaned_data["until"],
                name,
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Export CSV",
            "bots": list(queryset),
            "form": form,
            "action": "export_csv",
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/bots/export_csv.html", context)

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
        "price_text",
        "size_text",
        "filled_text",
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

    @admin.display(description="Price", ordering="price")
    def price_text(self, obj: Order) -> str:
        return figures.price(obj.price, obj.market, unit=True)

    @admin.display(description="Size", ordering="size_base")
    def size_text(self, obj: Order) -> str:
        return figures.size(obj.size_base, obj.market, unit=True)

    @admin.display(description="Filled", ordering="filled_base")
    def filled_text(self, obj: Order) -> str:
        return figures.size(obj.filled_base, obj.market, unit=True)


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = [
        "trade_id",
        "bot",
        "market",
        "side",
        "price_text",
        "size_text",
        "fee_text",
        "is_maker",
        "level_index",
        "round_trip_id",
        "executed_at",
    ]
    list_filter = ["side", "is_maker", "market__symbol", "bot"]
    search_fields = ["trade_id", "bot__name"]
    list_select_related = ["bot", "market"]
    date_hierarchy = "executed_at"

    @admin.display(description="Price", ordering="price")
    def price_text(self, obj: Fill) -> str:
        return figures.price(obj.price, obj.market, unit=True)

    @admin.display(description="Size", ordering="size_base")
    def size_text(self, obj: Fill) -> str:
        return figures.size(obj.size_base, obj.market, unit=True)

    @admin.display(description="Fee (paid; negative: rebate)", ordering="fee")
    def fee_text(self, obj: Fill) -> str:
        return figures.quote(obj.fee, exact=figures.SMALL_QUOTE, unit=True)


@admin.register(FundingPayment)
class FundingPaymentAdmin(ReadOnlyAdmin):
    list_display = ["paid_at", "account", "market", "bot", "amount_text", "rate", "position_text"]
    list_filter = ["market__symbol", "account", "bot"]
    list_select_related = ["account", "market", "bot"]
    date_hierarchy = "paid_at"

    @admin.display(description="Amount (received)", ordering="amount")
    def amount_text(self, obj: FundingPayment) -> str:
        return figures.quote(obj.amount, exact=figures.SMALL_QUOTE, unit=True)

    @admin.display(description="Position", ordering="position_size_base")
    def position_text(self, obj: FundingPayment) -> str:
        return figures.size(obj.position_size_base, obj.market, unit=True)


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
