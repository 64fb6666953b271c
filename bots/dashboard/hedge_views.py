"""The hedge bot's dashboard page and its control POSTs (the same rules as the grid's page:
staff, `bots.view_gridbot` to look, `bots.control_bot` and an explicit `confirmed=1` to act).

The page is rendered on the server from `bots.hedge_selectors.hedge_view`: both legs side by
side, the state with its time in state, the net exposure (green within tolerance, red beyond)
and the events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from bots import hedge_selectors, permissions, selectors, services
from bots.dashboard.views import BOT_ACTIONS, _actor, _answer
from bots.models import HedgeBot
from lighterweb import audit

logger = logging.getLogger(__name__)

# No pause: a hedge bot does not pause (`services.bot_pause`); Stop keeps both positions.
HEDGE_ACTIONS = ("start", "stop", "stop-close", "emergency-stop")
# Button labels; "stop-close" is "stop and close both legs" (hedge_bot_stop_close).
HEDGE_LABELS = {"stop-close": "Stop and close both legs"}


def _stop_close(bot: HedgeBot, *, actor: str) -> HedgeBot:
    return services.hedge_bot_stop_close(bot, actor=actor, confirm=True)


HEDGE_SERVICES: dict[str, tuple[Callable[..., Any], str]] = {
    **BOT_ACTIONS,
    "stop-close": (_stop_close, "stop and close both legs requested"),
}


@require_GET
@staff_member_required
@permission_required(permissions.VIEW, raise_exception=True)
def hedge_bot_page(request: HttpRequest, bot_id: int) -> HttpResponse:
    """One hedge bot: both legs, state, net exposure, events."""
    bot = get_object_or_404(selectors.hedge_bot_list(), id=bot_id)
    return render(
        request,
        "dashboard/hedge_bot.html",
        {
            "title": f"Hedge {bot.name}",
            "view": (view := hedge_selectors.hedge_view(bot)),
            "net_class": hedge_selectors.net_class(view),
            "actions": [(a, HEDGE_LABELS.get(a, a.capitalize())) for a in HEDGE_ACTIONS],
        },
    )


@require_POST
@staff_member_required
@permission_required(permissions.CONTROL, raise_exception=True)
def hedge_bot_action(request: HttpRequest, bot_id: int, action: str) -> HttpResponseBase:
    """Run one lifecycle service on a hedge bot (start, pause, stop, emergency-stop)."""
    bot = get_object_or_404(selectors.hedge_bot_list(), id=bot_id)
    back = reverse("dashboard:hedge-bot", args=[bot.pk])
    if action not in HEDGE_ACTIONS:
        return _answer(request, back, f"unknown action {action!r}", status=404)
    if request.POST.get("confirmed") != "1":
        return _answer(request, back, "not confirmed: nothing was done", status=400)
    service, label = HEDGE_SERVICES[action]
    try:
        service(bot, actor=_actor(request))
    except (services.BotActionRefused, services.ExchangeActionFailed) as refused:
        return _answer(request, back, str(refused), status=409)
    audit.record(request, f"bot_{action.replace('-', '_')}", label, target=bot)
    logger.info(
        "dashboard: %s on hedge bot %s %s by %s", action, bot.pk, bot.market.symbol, _actor(request)
    )
    return _answer(request, back, f"{bot.name}: {label}")
