"""Admin of the candle store (coverage per market, CSV upload imported by the default worker with
a progress bar) and of backtests (the "Backtest"
action on a grid bot, the result page, "create a bot from this config")."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from bots.backtest import imports, kernel, replay, runs, store, sweeps
from bots.models import (
    Backtest,
    BacktestMode,
    BacktestSweep,
    Candle,
    GridBot,
    Market,
    Network,
    SpacingMode,
    SweepStatus,
)

ADD_BACKTEST = "bots.add_backtest"
ADD_SWEEP = "bots.add_backtestsweep"
DAY_MS = 86_400_000


def _symbols() -> dict[tuple[str, int], str]:
    return {(m.network, m.market_id): m.symbol for m in Market.objects.all()}


# --------------------------------------------------------------------------- candle store


class CandleUploadForm(forms.Form):
    network = forms.ChoiceField(choices=Network.choices, initial=Network.MAINNET)
    market = forms.CharField(max_length=32, help_text="The exchange's market id, or a symbol.")
    file = forms.FileField(
        help_text="CSV with a header row: timestamp (s or ms), open, high, low, close, volume."
    )


@admin.register(Candle)
class CandleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The changelist is the coverage per market; candles are added by upload or recording."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Candle) -> None:
        store.delete_candles(Candle.objects.filter(pk=obj.pk))

    def get_urls(self) -> list[Any]:
        upload = path(
            "upload/", self.admin_site.admin_view(self.upload_view), name="bots_candle_upload"
        )
        chart = path(
            "chart/<str:network>/<int:market_id>/",
            self.admin_site.admin_view(self.chart_view),
            name="bots_candle_chart",
        )
        job = path(
            "upload/<str:job_id>/",
            self.admin_site.admin_view(self.import_view),
            name="bots_candle_import",
        )
        state = path(
            "upload/<str:job_id>/state/",
            self.admin_site.admin_view(self.import_state_view),
            name="bots_candle_import_state",
        )
        return [upload, job, state, chart, *super().get_urls()]

    def chart_view(self, request: HttpRequest, network: str, market_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        series = store.load_candles(network, market_id, 0, 2**62)
        symbol = _symbols().get((network, market_id), str(market_id))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Stored candles of {symbol} ({network})",
            "count": len(series),
            "bars": store.chart_buckets(series),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/bots/candle/chart.html", context)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        symbols = _symbols()
        rows = [
            {
                "coverage": cov,
                "symbol": symbols.get((cov.network, cov.market_id), "?"),
                "ranges": [(store.ms_text(a), store.ms_text(b)) for a, b in cov.ranges[:20]],
                "more_ranges": max(0, len(cov.ranges) - 20),
                "gap_count": len(cov.gaps),
                "last": store.ms_text(cov.last_ms),
                "first": store.ms_text(cov.first_ms),
            }
            for cov in store.coverage()
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Stored candles",
            "rows": rows,
            "can_upload": self.has_add_permission(request),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/bots/candle/coverage.html", context)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> Any:
        return HttpResponseRedirect(reverse("admin:bots_candle_upload"))

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CandleUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            job = self._start_import(form)
            if job is not None:
                return HttpResponseRedirect(reverse("admin:bots_candle_import", args=[job.id]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload candles (CSV)",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/bots/candle/upload.html", context)

    def _start_import(self, form: CandleUploadForm) -> imports.ImportJob | None:
        from bots.management.commands.candles_import import market_id_of

        network = form.cleaned_data["network"]
        market = form.cleaned_data["market"].strip()
        try:
            market_id = market_id_of(network, market)
        except ValueError as exc:
            form.add_error("market", str(exc).removeprefix("market: "))
            return None
        label = _symbols().get((network, market_id), market)
        return imports.import_start(
            network, market_id, f"{label} ({market_id})", form.cleaned_data["file"], _enqueue_import
        )

    def _import_job(self, request: HttpRequest, job_id: str) -> imports.ImportJob:
        if not self.has_add_permission(request):
            raise PermissionDenied
        job = imports.import_get(job_id)
        if job is None:
            raise Http404("No such import (they are kept 24 hours).")
        return job

    def import_view(self, request: HttpRequest, job_id: str) -> HttpResponse:
        job = self._import_job(request, job_id)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Importing {job.filename}",
            "job": job,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/bots/candle/import.html", context)

    def import_state_view(self, request: HttpRequest, job_id: str) -> JsonResponse:
        return JsonResponse(self._import_job(request, job_id).as_json())


def _enqueue_import(job_id: str) -> None:
    from bots.backtest.tasks import candles_import_task

    transaction.on_commit(lambda: candles_import_task.delay(job_id))


# --------------------------------------------------------------------------- backtests


class BacktestRangeForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), help_text="UTC")
    end = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}), help_text="UTC, inclusive"
    )
    tier = forms.ChoiceField(
        choices=[(t, t) for t in kernel.TIER_FEES_PPM], help_text="Fees of this account tier."
    )
    slippage_bps = forms.DecimalField(
        min_value=Decimal(0),
        max_value=Decimal(1000),
        decimal_places=2,
        initial=Decimal(5),
        label="Slippage (bps)",
        help_text="For market and reduce-only orders.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            self.add_error("end", "The end is before the start.")
        return data

    def range_ms(self) -> tuple[int, int]:
        def ms(day: Any) -> int:
            return int(datetime.combine(day, time(), UTC).timestamp() * 1000)

        return ms(self.cleaned_data["start"]), ms(self.cleaned_data["end"]) + DAY_MS


class BacktestForm(BacktestRangeForm):
    collateral = forms.DecimalField(
        required=False,
        min_value=Decimal("0.01"),
        max_digits=20,
        decimal_places=6,
        label="Collateral (USDC)",
        help_text=(
            "Empty: unlimited (margin never binds). Set: orders the margin cannot carry are "
            "refused and a position under maintenance margin is liquidated, ending the run."
        ),
    )
    mode = forms.ChoiceField(
        choices=BacktestMode.choices,
        initial=BacktestMode.FILL_MODEL,
        required=False,  # absent: the fill model
        help_text=(
            "The fill model is fast; the venue replays the same candles through the simulator's "
            "matching engine (margin, liquidation, the venue's order checks), about 20x slower."
        ),
    )
    volume_share = forms.DecimalField(
        required=False,
        min_value=Decimal("0.01"),
        max_value=Decimal(100),
        decimal_places=2,
        label="Partial fills: share of each candle's volume (%)",
        help_text=(
            "Empty: a touched order fills whole. Set: the bot's orders fill at most this share "
            "of each candle's volume in all (fill model only)."
        ),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("volume_share") is not None and data.get("mode") == BacktestMode.VENUE:
            self.add_error("volume_share", "Partial fills are a fill-model option.")
        return data

    def volume_fraction(self) -> Decimal | None:
        """The share as a fraction (None: off)."""
        share = self.cleaned_data.get("volume_share")
        return None if share is None else share / 100


def _initial_range(bot: GridBot) -> dict[str, Any]:
    market = bot.market
    for cov in store.coverage():
        if (cov.network, cov.market_id) == (market.network, market.market_id):
            last = datetime.fromtimestamp(cov.last_ms / 1000, UTC).date()
            first = datetime.fromtimestamp(cov.first_ms / 1000, UTC).date()
            return {"start": max(first, last - timedelta(days=30)), "end": last}
    return {}


# The admin's "Replay session" replays this much of the newest log, inline (the command does
# any range).
REPLAY_HOURS = 24


@admin.action(description="Replay session (last 24 h, decision diff)")
def replay_action(
    modeladmin: admin.ModelAdmin[GridBot],
    request: HttpRequest,
    queryset: QuerySet[GridBot],
) -> None:
    """Replay each selected bot's recorded session of the last REPLAY_HOURS through the current
    core (`bots.backtest.replay`, inline: the core replays thousands of decisions a second);
    the result as a message: "0 differences in N events", or the first difference in full."""
    end_ms = int(timezone.now().timestamp() * 1000)
    start_ms = end_ms - REPLAY_HOURS * 3_600_000
    for bot in queryset.select_related("account", "market"):
        report = replay.replay(bot, start_ms, end_ms)
        if report.first is None:
            note = f" ({'; '.join(report.notes)})" if report.notes else ""
            messages.success(request, f"{bot.name}: {report.summary}{note}")
        else:
            messages.warning(
                request,
                format_html("{}: {}<pre>{}</pre>", bot.name, report.summary, report.text()),
            )


@admin.action(description="Backtest (choose a range)")
def backtest_action(
    modeladmin: admin.ModelAdmin[GridBot],
    request: HttpRequest,
    queryset: QuerySet[GridBot],
) -> HttpResponse | None:
    """On one grid bot: a range form, then a queued backtest and its result page."""
    if not request.user.has_perm(ADD_BACKTEST):
        messages.error(request, "Backtests need the permission to add backtests.")
        return None
    bots = list(queryset.select_related("account", "market")[:2])
    if len(bots) != 1:
        messages.error(request, "Select exactly one bot to backtest.")
        return None
    bot = bots[0]
    if "confirm" in request.POST:
        form = BacktestForm(request.POST)
        if form.is_valid():
            start_ms, end_ms = form.range_ms()
            backtest = runs.backtest_create(
                bot,
                start_ms,
                end_ms,
                tier=form.cleaned_data["tier"],
                slippage_bps=form.cleaned_data["slippage_bps"],
                mode=form.cleaned_data["mode"] or BacktestMode.FILL_MODEL,
                collateral=form.cleaned_data["collateral"],
                volume_share=form.volume_fraction(),
            )
            _enqueue(backtest.pk)
            messages.success(request, f"Backtest {backtest.pk} queued.")
            return HttpResponseRedirect(reverse("admin:bots_backtest_change", args=[backtest.pk]))
    else:
        form = BacktestForm(initial={"tier": bot.account.tier, **_initial_range(bot)})
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"Backtest {bot.name}",
        "bot": bot,
        "form": form,
        "action": "backtest_action",
        "submit": "Run the backtest",
        "opts": GridBot._meta,
    }
    return TemplateResponse(request, "admin/bots/backtest/range.html", context)


def _enqueue(backtest_id: int) -> None:
    from bots.backtest.tasks import backtest_run_task

    transaction.on_commit(lambda: backtest_run_task.delay(backtest_id))


@admin.register(Backtest)
class BacktestAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "id",
        "market",
        "bot",
        "range_text",
        "status",
        "progress",
        "total",
        "created_at",
    ]
    list_filter = ["status", "market"]
    list_select_related = ["market", "bot"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # from the "Backtest" action of a grid bot

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Range")
    def range_text(self, obj: Backtest) -> str:
        return f"{store.ms_text(obj.start_ms)} .. {store.ms_text(obj.end_ms)}"

    @admin.display(description="Total PnL")
    def total(self, obj: Backtest) -> str:
        return str(obj.results.get("total", "-"))

    def get_urls(self) -> list[Any]:
        create = path(
            "<int:pk>/create-bot/",
            self.admin_site.admin_view(self.create_bot_view),
            name="bots_backtest_create_bot",
        )
        return [create, *super().get_urls()]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        backtest = self.get_object(request, object_id)
        if backtest is None or not self.has_view_permission(request, backtest):
            raise PermissionDenied
        results = backtest.results
        figures = [
            ("Total PnL", results.get("total")),
            ("Grid profit", results.get("grid_profit")),
            ("Other realized", results.get("other_realized")),
            ("Inventory (unrealized)", results.get("inventory")),
            ("Fees", results.get("fees")),
            ("Funding", results.get("funding")),
            ("Round trips", results.get("round_trips")),
            ("Fills", results.get("fill_count")),
            ("Fills per day", results.get("fills_per_day")),
            ("Max drawdown", results.get("max_drawdown")),
            ("Capital the grid needs", results.get("capital")),
            ("Return on capital (%)", results.get("return_percent")),
            ("APR (%)", results.get("apr_percent")),
            ("Time at the position cap (%)", results.get("time_at_cap_percent")),
            ("Position at the end", results.get("position_base")),
            ("Candles", results.get("candles")),
            ("Stopped by", results.get("halted") or "-"),
            ("Why", results.get("halt_reason") or "-"),
            ("Collateral (USDC)", backtest.config.get("collateral") or "unlimited"),
        ]
        chart = {"equity": backtest.equity_curve, "fills": backtest.fills}
        context = {
            **self.admin_site.each_context(request),
            "title": f"Backtest {backtest.pk}",
            "backtest": backtest,
            "range_text": self.range_text(backtest),
            "figures": figures,
            "config": json.dumps(backtest.config, indent=1, sort_keys=True),
            "chart": chart,
            "can_create_bot": request.user.has_perm("bots.add_gridbot"),
            "opts": self.model._meta,
            "original": backtest,
        }
        return TemplateResponse(request, "admin/bots/backtest/result.html", context)

    def create_bot_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST" or not request.user.has_perm("bots.add_gridbot"):
            raise PermissionDenied
        backtest = Backtest.objects.select_related("market").filter(pk=pk).first()
        if backtest is None:
            raise PermissionDenied
        name = f"{backtest.config.get('name', 'grid')} (backtest {backtest.pk})"[:100]
        try:
            bot = runs.bot_from_backtest(backtest, name)
        except ValidationError as exc:
            messages.error(request, f"Cannot create the bot: {'; '.join(exc.messages)}")
            return HttpResponseRedirect(reverse("admin:bots_backtest_change", args=[pk]))
        messages.success(request, f"Bot {bot.name} created (stopped): review it, then start it.")
        return HttpResponseRedirect(reverse("admin:bots_gridbot_change", args=[bot.pk]))


# --------------------------------------------------------------------------- sweeps


def _decimal_list(text: str, field: str) -> list[str]:
    values: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = Decimal(part)
        except ArithmeticError:
            raise forms.ValidationError(f"{part!r} is not a number.") from None
        if not value.is_finite() or value <= 0:
            raise forms.ValidationError(f"{part!r} must be a number greater than zero.")
        values.append(str(value))
    if not values:
        raise forms.ValidationError(f"Give at least one {field}, separated by commas.")
    return sorted(set(values), key=Decimal)


class SweepForm(BacktestRangeForm):
    spacing_modes = forms.MultipleChoiceField(
        choices=SpacingMode.choices, widget=forms.CheckboxSelectMultiple
    )
    steps = forms.CharField(help_text="Comma-separated: a price step, or percent if geometric.")
    levels = forms.CharField(help_text="Comma-separated whole numbers of levels per side.")
    sizes = forms.CharField(help_text="Comma-separated sizes per level (the bot's size mode).")

    def clean_steps(self) -> list[str]:
        return _decimal_list(self.cleaned_data["steps"], "step")

    def clean_sizes(self) -> list[str]:
        return _decimal_list(self.cleaned_data["sizes"], "size")

    def clean_levels(self) -> list[int]:
        values: set[int] = set()
        for part in self.cleaned_data["levels"].split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or not 1 <= int(part) <= 100:
                raise forms.ValidationError(f"{part!r} is not a whole number from 1 to 100.")
            values.add(int(part))
        if not values:
            raise forms.ValidationError("Give at least one number of levels.")
        return sorted(values)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        lists = [data.get(name) for name in ("spacing_modes", "steps", "levels", "sizes")]
        if all(lists):
            count = 1
            for values in lists:
                count *= len(values)  # type: ignore[arg-type]
            if count > sweeps.MAX_CONFIGS:
                raise forms.ValidationError(
                    f"{count} combinations: at most {sweeps.MAX_CONFIGS} in one sweep."
                )
        return data

    def params(self) -> dict[str, list[Any]]:
        data = self.cleaned_data
        return {
            "spacing_mode": data["spacing_modes"],
            "step": data["steps"],
            "levels_per_side": data["levels"],
            "size": data["sizes"],
        }


@admin.action(description="Sweep (backtest lists of parameters)")
def sweep_action(
    modeladmin: admin.ModelAdmin[GridBot],
    request: HttpRequest,
    queryset: QuerySet[GridBot],
) -> HttpResponse | None:
    """On one grid bot: lists of steps, levels, sizes and spacing modes, then a queued sweep."""
    if not request.user.has_perm(ADD_SWEEP):
        messages.error(request, "Sweeps need the permission to add backtest sweeps.")
        return None
    bots = list(queryset.select_related("account", "market")[:2])
    if len(bots) != 1:
        messages.error(request, "Select exactly one bot to sweep.")
        return None
    bot = bots[0]
    if "confirm" in request.POST:
        form = SweepForm(request.POST)
        if form.is_valid():
            start_ms, end_ms = form.range_ms()
            sweep = sweeps.sweep_create(
                bot,
                form.params(),
                start_ms,
                end_ms,
                tier=form.cleaned_data["tier"],
                slippage_bps=form.cleaned_data["slippage_bps"],
            )
            _enqueue_sweep(sweep.pk)
            messages.success(request, f"Sweep {sweep.pk} queued.")
            return HttpResponseRedirect(reverse("admin:bots_backtestsweep_change", args=[sweep.pk]))
    else:
        form = SweepForm(
            initial={
                "tier": bot.account.tier,
                "spacing_modes": [bot.spacing_mode],
                "steps": str(bot.step.normalize()),
                "levels": str(bot.levels_per_side),
                "sizes": str(bot.size.normalize()),
                **_initial_range(bot),
            }
        )
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"Sweep {bot.name}",
        "bot": bot,
        "form": form,
        "action": "sweep_action",
        "submit": "Run the sweep",
        "opts": GridBot._meta,
    }
    return TemplateResponse(request, "admin/bots/backtest/range.html", context)


def _enqueue_sweep(sweep_id: int) -> None:
    from bots.backtest.tasks import sweep_run_task

    transaction.on_commit(lambda: sweep_run_task.delay(sweep_id))


@admin.register(BacktestSweep)
class BacktestSweepAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "market", "bot", "status", "progress", "created_at"]
    list_filter = ["status", "market"]
    list_select_related = ["market", "bot"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # from the "Sweep" action of a grid bot

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        cancel = path(
            "<int:pk>/cancel/",
            self.admin_site.admin_view(self.cancel_view),
            name="bots_backtestsweep_cancel",
        )
        return [cancel, *super().get_urls()]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        sweep = self.get_object(request, object_id)
        if sweep is None or not self.has_view_permission(request, sweep):
            raise PermissionDenied
        levels, steps, cells = sweeps.heat_map(sweep.results)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Sweep {sweep.pk}",
            "sweep": sweep,
            "range_text": f"{store.ms_text(sweep.start_ms)} .. {store.ms_text(sweep.end_ms)}",
            "columns": [*sweeps.SWEPT, *sweeps.FIGURES],
            "rows": [
                [row.get(name, "") for name in (*sweeps.SWEPT, *sweeps.FIGURES)]
                + [row.get("error", "")]
                for row in sweep.results
            ],
            "heat_levels": levels,
            "heat_rows": list(zip(steps, cells, strict=True)),
            "active": sweep.status in (SweepStatus.QUEUED, SweepStatus.RUNNING),
            "can_cancel": request.user.has_perm(ADD_SWEEP),
            "opts": self.model._meta,
            "original": sweep,
        }
        return TemplateResponse(request, "admin/bots/backtest/sweep.html", context)

    def cancel_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST" or not request.user.has_perm(ADD_SWEEP):
            raise PermissionDenied
        updated = BacktestSweep.objects.filter(
            pk=pk, status__in=[SweepStatus.QUEUED, SweepStatus.RUNNING]
        ).update(cancel_requested=True)
        # A queued sweep never started: cancel it here (the task then finds it not queued).
        BacktestSweep.objects.filter(pk=pk, status=SweepStatus.QUEUED).update(
            status=SweepStatus.CANCELLED, finished_at=timezone.now()
        )
        if updated:
            messages.success(request, "Cancel requested: the sweep stops after its current config.")
        return HttpResponseRedirect(reverse("admin:bots_backtestsweep_change", args=[pk]))
