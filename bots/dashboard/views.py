"""Dashboard pages (overview, bot page) and their control POSTs; staff only, and then by role:
the pages need `bots.view_gridbot`, the controls `bots.control_bot` (403 otherwise).

Pages render a shell; the data arrives over the page's websocket (snapshot, then pushes). Controls
are POSTs with Django's CSRF check and an explicit `confirmed=1` field (the page sets it only after
the operator confirms), and call the same services as the admin. A request that asks for JSON
(`Accept: application/json`, as the page's script does) gets `{"detail": ...}` back; a plain form
post is redirected to the page with a message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TypeVar

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from bots import hedge_selectors, ownership, permissions, selectors, services
from bots.dashboard.actions import bot_actions
from bots.engine.controls import CancelReport
from bots.models import ExchangeAccount, GridBot, Market
from lighterweb import audit

logger = logging.getLogger(__name__)

M = TypeVar("M", ExchangeAccount, Market)
BotAction = Callable[..., GridBot]

# URL slug -> (service, past-tense label for the operator).
BOT_ACTIONS: dict[str, tuple[BotAction, str]] = {
    "start": (services.bot_start, "start requested"),
    "pause": (services.bot_pause, "pause requested"),
    "stop": (services.bot_stop, "stop requested"),
    "emergency-stop": (services.bot_emergency_stop, "emergency stop requested"),
    "cancel-all": (services.bot_cancel_all, "cancel-all requested"),
}


@require_GET
@staff_member_required
@permission_required(permissions.VIEW, raise_exception=True)
def overview(request: HttpRequest) -> HttpResponse:
    """Every account and bot, live."""
    return render(
        request,
        "dashboard/overview.html",
        {
            "title": "Dashboard",
            "accounts": selectors.account_list(),
            "markets": Market.objects.order_by("network", "symbol"),
            "hedge_bots": [
                hedge_selectors.hedge_view(bot, events=0) for bot in selectors.hedge_bot_list()
            ],
        },
    )


@require_GET
@staff_member_required
@permission_required(permissions.VIEW, raise_exception=True)
def bot_page(request: HttpRequest, bot_id: int) -> HttpResponse:
    """One bot: ladder, chart, orders, fills, PnL and its live event log."""
    bot = get_object_or_404(selectors.bot_list(), id=bot_id)
    return render(
        request,
        "dashboard/bot.html",
        {
            "title": f"Grid {bot.name}",
            "bot": bot,
            "actions": bot_actions(bot, open_orders=selectors.bot_open_order_count(bot)),
        },
    )


@require_POST
@staff_member_required
@permission_required(permissions.CONTROL, raise_exception=True)
def bot_action(request: HttpRequest, bot_id: int, action: str) -> HttpResponseBase:
    """Run one lifecycle service on a bot (start, pause, stop, emergency-stop, cancel-all)."""
    bot = get_object_or_404(selectors.bot_list(), id=bot_id)
    back = reverse("dashboard:bot", args=[bot.pk])
    if action not in BOT_ACTIONS:
        return _answer(request, back, f"unknown action {action!r}", status=404)
    if request.POST.get("confirmed") != "1":
        return _answer(request, back, "not confirmed: nothing was done", status=400)
    service, label = BOT_ACTIONS[action]
    # Start takes the operator's adopt/leave answer (README "How positions are owned").
    extra = {"unattributed": request.POST.get("unattributed") or None} if action == "start" else {}
    try:
        bot = service(bot, actor=_actor(request), **extra)
    except services.BotActionRefused as refused:
        return _answer(request, back, str(refused), status=409)
    if action == "start" and bot.unattributed_choice:
        size = ownership.plain(bot.unattributed_choice_base or Decimal(0))
        label += f" ({bot.unattributed_choice} {size} {bot.market.symbol})"
    audit.record(request, f"bot_{action.replace('-', '_')}", label, target=bot)
    logger.info(
        "dashboard: %s on bot %s %s by %s", action, bot.pk, bot.market.symbol, _actor(request)
    )
    return _answer(request, back, f"{bot.name}: {label}")


@require_POST
@staff_member_required
@permission_required(permissions.CONTROL, raise_exception=True)
def emergency_stop_all(request: HttpRequest) -> HttpResponseBase:
    """Stop every bot and cancel every order on every account (the form says `scope=all`)."""
    back = reverse("dashboard:overview")
    if request.POST.get("confirmed") != "1":
        return _answer(request, back, "not confirmed: nothing was done", status=400)
    if request.POST.get("scope") != "all":
        return _answer(request, back, "scope must be 'all': nothing was done", status=400)
    report = services.emergency_stop_all(actor=_actor(request))
    logger.warning("dashboard: emergency stop of every bot by %s", _actor(request))
    audit.record(request, "emergency_stop_all", f"{len(report.bots_stopped)} bots stopped")
    detail = f"emergency stop: {len(report.bots_stopped)} bots stopped; " + _cancels_text(
        report.cancels
    )
    return _answer(request, back, detail, status=200 if report.verified else 502)


@require_POST
@staff_member_required
@permission_required(permissions.CONTROL, raise_exception=True)
def cancel_all(request: HttpRequest) -> HttpResponseBase:
    """Cancel every order in the scope the form names: an account and/or a market (symbol),
    each an id or "all"; a post naming neither is refused, never read as "everything"."""
    back = reverse("dashboard:overview")
    if request.POST.get("confirmed") != "1":
        return _answer(request, back, "not confirmed: nothing was done", status=400)
    if not any(request.POST.get(field, "").strip() for field in ("account_id", "market_id")):
        return _answer(
            request,
            back,
            "choose an account and/or a symbol (or all): nothing was done",
            status=400,
        )
    account = _optional(request, "account_id", ExchangeAccount)
    market = _optional(request, "market_id", Market)
    reports = services.cancel_all(account, market, actor=_actor(request))
    scope = " / ".join(str(part) for part in (account, market) if part is not None) or "everything"
    verified = all(report.verified for report in reports)
    audit.record(request, "cancel_all", f"cancel all on {scope}", target=scope)
    detail = f"cancel-all ({scope}): " + _cancels_text(reports)
    return _answer(request, back, detail, status=200 if verified else 502)


def _cancels_text(reports: Sequence[CancelReport]) -> str:
    # 502 and this text when the exchange's read-back still shows orders (or could not be read).
    if not reports:
        return "no account with an API key to cancel on"
    cancelled = sum(report.cancelled for report in reports)
    failed = [report for report in reports if not report.verified]
    if not failed:
        return f"{cancelled} orders cancelled on {len(reports)} account(s), verified"
    problems = "; ".join(
        f"account {r.account_id}: {r.error or f'{len(r.remaining)} still open'}" for r in failed
    )
    return f"{cancelled} orders cancelled, NOT verified: {problems}"


def _optional(request: HttpRequest, field: str, model: type[M]) -> M | None:
    # "all" (or blank beside a chosen other field) means "any"; anything else must name an
    # existing row (404 otherwise).
    raw = request.POST.get(field, "").strip()
    if raw in ("", "all"):
        return None
    if not raw.isdigit():
        raise Http404(f"{field} must be an id")
    return get_object_or_404(model, pk=int(raw))


def _actor(request: HttpRequest) -> str:
    return f"{request.user.get_username()} (dashboard)"


def _answer(request: HttpRequest, back: str, detail: str, *, status: int = 200) -> HttpResponseBase:
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"detail": detail}, status=status)
    if status == 200:
        messages.success(request, detail)
    else:
        messages.error(request, detail)
    return redirect(back)
