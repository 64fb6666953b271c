"""The bots app's REST operations, mounted by lighterweb.api at /api/.

Each operation is schema in -> bots.services (writes) or bots.selectors (reads) -> schema out.
Auth and the mapping of domain errors to HTTP (404 unknown ids, 409 refused, 422 invalid) live
in lighterweb.api, once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Query, Router

from bots import account_summaries, exports, ownership, permissions, schemas, selectors, services
from bots.hedge_schemas import (
    HedgeBotIn,
    HedgeBotOut,
    HedgeBotPatch,
    HedgeControlOut,
    HedgeStopIn,
)
from bots.history import candles as chart_candles
from bots.history import snapshots as pnl_history
from bots.history.schemas import CandlesOut, PnlPointOut
from bots.preview import grid_preview_get
from bots.preview_schemas import GridPreviewIn, GridPreviewOut
from bots.schemas import Cursor, Id, QueryText
from bots.summary_schemas import AccountSummaryOut, PnlOut
from lighterweb import audit

router = Router(tags=["bots"])

ERRORS: dict[int, type[schemas.ErrorOut]] = {
    status: schemas.ErrorOut for status in (401, 403, 404, 409, 422)
}
F = TypeVar("F", bound=Callable[..., Any])


def needs(*names: str) -> Callable[[F], F]:
    """The operation answers 403 unless the caller's user holds every permission named."""

    def decorate(operation: F) -> F:
        @functools.wraps(operation)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            permissions.require(request.user, *names)
            return operation(request, *args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate


PageLimit = Query(selectors.DEFAULT_PAGE_SIZE, ge=1, le=selectors.MAX_PAGE_SIZE)  # type: ignore[type-arg]


def _actor(request: HttpRequest) -> str:
    """Who asked, as BotEvents record it; scripts are told apart by their token's prefix."""
    name = request.user.get_username()
    token = getattr(request.auth, "prefix", None)  # type: ignore[attr-defined]
    return f"{name} (api token {token}…)" if token else f"{name} (api)"


# -- accounts and markets -----------------------------------------------------------------------


@router.get("/accounts", response={200: list[schemas.AccountOut], **ERRORS}, tags=["accounts"])
@needs(permissions.VIEW_ACCOUNT)
def account_list(request: HttpRequest) -> Any:
    """Every exchange account (never a secret: only whether each key is stored)."""
    return selectors.account_list()


@router.get(
    "/accounts/summaries",
    response={200: list[AccountSummaryOut], **ERRORS},
    tags=["accounts"],
)
@needs(permissions.VIEW_ACCOUNT)
def account_summary_list(request: HttpRequest) -> Any:
    """Every account with balances, positions, open orders, bots and request budget."""
    return account_summaries.account_summary_list()


@router.get(
    "/accounts/{account_id}", response={200: schemas.AccountOut, **ERRORS}, tags=["accounts"]
)
@needs(permissions.VIEW_ACCOUNT)
def account_get(request: HttpRequest, account_id: Id) -> Any:
    """One account."""
    return selectors.account_get(account_id)


@router.get(
    "/accounts/{account_id}/summary",
    response={200: AccountSummaryOut, **ERRORS},
    tags=["accounts"],
)
@needs(permissions.VIEW_ACCOUNT)
def account_summary(request: HttpRequest, account_id: Id) -> Any:
    """One account's balances, positions, open orders, bots and request budget."""
    return account_summaries.account_summary(selectors.account_get(account_id))


@router.get("/markets", response={200: list[schemas.MarketOut], **ERRORS}, tags=["markets"])
@needs(permissions.VIEW_MARKET)
def market_list(request: HttpRequest, network: QueryText | None = None) -> Any:
    """Markets as last synced from the exchange, optionally of one network."""
    return selectors.market_list(network)


@router.get("/markets/{market_id}", response={200: schemas.MarketOut, **ERRORS}, tags=["markets"])
@needs(permissions.VIEW_MARKET)
def market_get(request: HttpRequest, market_id: Id) -> Any:
    """One market by our id."""
    return selectors.market_get(market_id)


# -- grid bots: configuration -------------------------------------------------------------------


@router.get("/bots", response={200: list[schemas.GridBotOut], **ERRORS})
@needs(permissions.VIEW)
def bot_list(
    request: HttpRequest,
    account_id: Id | None = None,
    market_id: Id | None = None,
    status: QueryText | None = None,
    desired_state: QueryText | None = None,
) -> Any:
    """Grid bots, optionally filtered by account, market, status or desired state."""
    return selectors.bot_list(
        account_id=account_id, market_id=market_id, status=status, desired_state=desired_state
    )


@router.post("/bots", response={201: schemas.GridBotOut, **ERRORS})
@needs(permissions.ADD_BOT)
def bot_create(request: HttpRequest, payload: schemas.GridBotIn) -> Any:
    """Create a grid bot (stopped), validated like the admin form."""
    fields = payload.model_dump()
    fields["account"] = _referenced(selectors.account_get, fields.pop("account_id"), "account_id")
    fields["market"] = _referenced(selectors.market_get, fields.pop("market_id"), "market_id")
    bot = services.bot_create(actor=_actor(request), **fields)
    return 201, selectors.bot_get(bot.pk)


def _referenced(get: Any, row_id: int, field: str) -> Any:
    """The row a request body refers to; an unknown id is that field's validation error."""
    try:
        return get(row_id)
    except ObjectDoesNotExist as exc:
        raise ValidationError({field: f"No such id: {row_id}."}) from exc


@router.post("/bots/preview", response={200: GridPreviewOut, **ERRORS})
@needs(permissions.CHANGE_BOT)
def bot_preview(request: HttpRequest, payload: GridPreviewIn) -> Any:
    """Preview a grid before saving it: level prices around the current price, capital and
    margin, profit per step after the tier's fees, where the position cap binds, a liquidation
    estimate. An invalid grid is a 422 naming the field (a level <= 0 on `step`, ...)."""
    fields = payload.model_dump()
    account = _referenced(selectors.account_get, fields.pop("account_id"), "account_id")
    market = _referenced(selectors.market_get, fields.pop("market_id"), "market_id")
    return grid_preview_get(account=account, market=market, **fields)


@router.get("/bots/{bot_id}", response={200: schemas.GridBotOut, **ERRORS})
@needs(permissions.VIEW)
def bot_get(request: HttpRequest, bot_id: Id) -> Any:
    """One grid bot: configuration, desired state and engine status."""
    return selectors.bot_get(bot_id)


@router.patch("/bots/{bot_id}", response={200: schemas.GridBotOut, **ERRORS})
@needs(permissions.CHANGE_BOT)
def bot_update(request: HttpRequest, bot_id: Id, payload: schemas.GridBotPatch) -> Any:
    """Change some of a bot's settings; only the fields sent change."""
    bot = selectors.bot_get(bot_id)
    changes = payload.model_dump(exclude_unset=True)
    services.bot_update(bot, actor=_actor(request), **changes)
    return selectors.bot_get(bot_id)


@router.delete("/bots/{bot_id}", response={204: None, **ERRORS})
@needs(permissions.DELETE_BOT)
def bot_delete(request: HttpRequest, bot_id: Id) -> Any:
    """Delete a stopped bot (its orders and fills stay, unlinked)."""
    services.bot_delete(selectors.bot_get(bot_id), actor=_actor(request))
    return HttpResponse(status=204)


@router.get("/bots/{bot_id}/pnl", response={200: PnlOut, **ERRORS})
@needs(permissions.VIEW)
def bot_pnl(request: HttpRequest, bot_id: Id) -> Any:
    """The bot's PnL split (grid profit, other realized, unrealized, fees, funding) and its
    returns: capital in use, ROI, APR, round trips, max drawdown (README "Returns")."""
    return selectors.bot_pnl(selectors.bot_get(bot_id), with_returns=True)


@router.get(
    "/bots/{bot_id}/candles",
    response={200: CandlesOut, 502: schemas.ErrorOut, **ERRORS},
    tags=["history"],
)
@needs(permissions.VIEW)
def bot_candles(
    request: HttpRequest, bot_id: Id, resolution: Literal["1m", "5m", "15m", "1h"] = "1m"
) -> Any:
    """The last 300 candles of the bot's market from the venue's candlesticks, oldest first;
    shared by every caller for a few seconds per (network, market, resolution). 502 when the
    venue cannot be read."""
    bot = selectors.bot_get(bot_id)
    return {
        "bot_id": bot.pk,
        "symbol": bot.market.symbol,
        "resolution": resolution,
        "cached_seconds": chart_candles.CACHE_SECONDS,
        "candles": chart_candles.bot_candles(bot, resolution),
    }


@router.get(
    "/bots/{bot_id}/pnl-history", response={200: list[PnlPointOut], **ERRORS}, tags=["history"]
)
@needs(permissions.VIEW)
def bot_pnl_history(request: HttpRequest, bot_id: Id, since: datetime | None = None) -> Any:
    """The bot's PnL snapshots (one a minute while it runs, hourly beyond two days) from `since`
    (default: the last 7 days), oldest first."""
    return pnl_history.bot_series(selectors.bot_get(bot_id), _aware(since))


@router.get(
    "/accounts/{account_id}/pnl-history",
    response={200: list[PnlPointOut], **ERRORS},
    tags=["accounts"],
)
@needs(permissions.VIEW_ACCOUNT)
def account_pnl_history(request: HttpRequest, account_id: Id, since: datetime | None = None) -> Any:
    """The sum of the account's bots' PnL snapshots at each snapshot time (a stopped bot's last
    one carried forward) from `since` (default: the last 7 days), oldest first."""
    account = selectors.account_get(account_id)
    return pnl_history.account_series(account.pk, _aware(since))


def _aware(since: datetime | None) -> datetime | None:
    return exports.aware(since)


@router.get(
    "/bots/{bot_id}/export",
    response={200: None, **ERRORS},
    tags=["history"],
)
@needs(permissions.VIEW)
def bot_export(
    request: HttpRequest,
    bot_id: Id,
    kind: Literal["fills", "orders", "events"],
    since: datetime | None = None,
    until: datetime | None = None,
) -> Any:
    """The bot's fills, orders or events as a CSV file (text/csv), oldest first; `since`
    inclusive, `until` exclusive (UTC when no zone is given). Prices and sizes on the market's
    decimals."""
    permissions.require(request.user, exports.PERMISSIONS[kind])
    since, until = exports.aware(since), exports.aware(until)
    if since is not None and until is not None and until <= since:
        raise ValidationError({"until": "The end of the range must be after its start."})
    bot = selectors.bot_get(bot_id)
    return exports.export_response(kind, [bot.pk], since, until, bot.name)


# -- grid bots: control -------------------------------------------------------------------------


@router.post(
    "/bots/{bot_id}/start",
    response={200: schemas.ControlOut, **ERRORS},
    operation_id="bots_api_bot_start",
    tags=["control"],
)
@needs(permissions.CONTROL)
def bot_start(request: HttpRequest, bot_id: Id, payload: schemas.StartIn | None = None) -> Any:
    """Start request for one bot. Where a position on its account and market is not its own,
    `unattributed` ("adopt" or "leave") is required: without it, 422 naming the size."""
    choice = payload.unattributed if payload is not None else None
    bot = services.bot_start(selectors.bot_get(bot_id), actor=_actor(request), unattributed=choice)
    done = "start requested"
    if bot.unattributed_choice:
        size = ownership.plain(bot.unattributed_choice_base or Decimal(0))
        done += f" ({bot.unattributed_choice} {size} {bot.market.symbol})"
    audit.record(request, "bot_start", done, target=bot)
    return _control_out(f"{bot}: {done}", [selectors.bot_get(bot.pk)], [])


CONTROLS = {
    "stop": (services.bot_stop, "stop requested"),
    "pause": (services.bot_pause, "pause requested"),
    "emergency-stop": (services.bot_emergency_stop, "emergency stop requested"),
    "cancel-all": (services.bot_cancel_all, "cancel all requested"),
}


def _control(name: str) -> None:
    call, done = CONTROLS[name]

    def operation(request: HttpRequest, bot_id: Id) -> Any:
        permissions.require(request.user, permissions.CONTROL)
        bot = call(selectors.bot_get(bot_id), actor=_actor(request))
        audit.record(request, f"bot_{name.replace('-', '_')}", done, target=bot)
        return _control_out(f"{bot}: {done}", [selectors.bot_get(bot.pk)], [])

    operation.__name__ = f"bot_{name.replace('-', '_')}"
    operation.__doc__ = f"{done.capitalize()} for one bot (see bots.services)."
    router.post(
        f"/bots/{{bot_id}}/{name}",
        response={200: schemas.ControlOut, **ERRORS},
        operation_id=f"bots_api_bot_{name.replace('-', '_')}",
        tags=["control"],
    )(operation)


for _name in CONTROLS:
    _control(_name)


@router.post("/emergency-stop", response={200: schemas.ControlOut, **ERRORS}, tags=["control"])
@needs(permissions.CONTROL)
def emergency_stop_all(request: HttpRequest, payload: schemas.EmergencyStopIn) -> Any:
    """Stop every bot and cancel every order on every account (body `{"scope": "all"}`)."""
    report = services.emergency_stop_all(actor=_actor(request))
    audit.record(request, "emergency_stop_all", f"{len(report.bots_stopped)} bots stopped")
    return _control_out(
        "emergency stop of everything requested", selectors.bot_list(), report.cancels
    )


@router.post("/cancel-all", response={200: schemas.ControlOut, **ERRORS}, tags=["control"])
@needs(permissions.CONTROL)
def cancel_all(request: HttpRequest, payload: schemas.CancelAllIn) -> Any:
    """Cancel every order in an explicit scope: `{"scope": "all"}`, an account and/or a market,
    or one bot. Running grids in an account/market scope are paused first, hedge bots on an
    account in scope stopped (they do not pause)."""
    if payload.bot_id:
        bot = services.bot_cancel_all(selectors.bot_get(payload.bot_id), actor=_actor(request))
        audit.record(request, "bot_cancel_all", "cancel all requested", target=bot)
        return _control_out(f"{bot}: cancel all requested", [selectors.bot_get(bot.pk)], [])
    account = selectors.account_get(payload.account_id) if payload.account_id else None
    market = selectors.market_get(payload.market_id) if payload.market_id else None
    reports = services.cancel_all(account, market, actor=_actor(request))
    scope = " / ".join(str(part) for part in (account, market) if part) or "every account"
    audit.record(request, "cancel_all", f"cancel all on {scope}", target=scope)
    bots = selectors.bot_list(account_id=payload.account_id, market_id=payload.market_id)
    return _control_out(f"cancel all requested on {scope}", bots, reports)


def _control_out(detail: str, bots: Any, cancels: list[Any]) -> schemas.ControlOut:
    """The outcome of an exchange-wide control; `verified` only when some cancel ran."""
    verified = all(report.verified for report in cancels) if cancels else None
    return schemas.ControlOut(
        detail=detail,
        bots=list(bots),
        cancels=list(cancels),
        verified=verified,
    )


# -- hedge bots: configuration and control -------------------------------------------------------


@router.get("/hedge-bots", response={200: list[HedgeBotOut], **ERRORS}, tags=["hedge bots"])
@needs(permissions.VIEW)
def hedge_bot_list(
    request: HttpRequest,
    account_id: Id | None = None,
    market_id: Id | None = None,
    status: QueryText | None = None,
) -> Any:
    """Hedge bots, optionally filtered by account (either leg), market or status."""
    return selectors.hedge_bot_list(account_id=account_id, market_id=market_id, status=status)


@router.post("/hedge-bots", response={201: HedgeBotOut, **ERRORS}, tags=["hedge bots"])
@needs(permissions.ADD_BOT)
def hedge_bot_create(request: HttpRequest, payload: HedgeBotIn) -> Any:
    """Create a hedge bot (stopped), validated like the admin form."""
    fields = payload.model_dump()
    for field, get in (
        ("account_id", selectors.account_get),
        ("taker_account_id", selectors.account_get),
        ("market_id", selectors.market_get),
    ):
        fields[field.removesuffix("_id")] = _referenced(get, fields.pop(field), field)
    bot = services.hedge_bot_create(actor=_actor(request), **fields)
    return 201, selectors.hedge_bot_get(bot.pk)


@router.get("/hedge-bots/{bot_id}", response={200: HedgeBotOut, **ERRORS}, tags=["hedge bots"])
@needs(permissions.VIEW)
def hedge_bot_get(request: HttpRequest, bot_id: Id) -> Any:
    """One hedge bot: both legs, configuration, desired state and engine status."""
    return selectors.hedge_bot_get(bot_id)


@router.patch("/hedge-bots/{bot_id}", response={200: HedgeBotOut, **ERRORS}, tags=["hedge bots"])
@needs(permissions.CHANGE_BOT)
def hedge_bot_update(request: HttpRequest, bot_id: Id, payload: HedgeBotPatch) -> Any:
    """Change some of a stopped hedge bot's settings; only the fields sent change."""
    bot = selectors.hedge_bot_get(bot_id)
    services.hedge_bot_update(bot, actor=_actor(request), **payload.model_dump(exclude_unset=True))
    return selectors.hedge_bot_get(bot_id)


@router.delete("/hedge-bots/{bot_id}", response={204: None, **ERRORS}, tags=["hedge bots"])
@needs(permissions.DELETE_BOT)
def hedge_bot_delete(request: HttpRequest, bot_id: Id) -> Any:
    """Delete a stopped hedge bot (its orders and fills stay, unlinked)."""
    services.bot_delete(selectors.hedge_bot_get(bot_id), actor=_actor(request))
    return HttpResponse(status=204)


HEDGE_CONTROLS = {"start": (services.bot_start, "start requested"), **CONTROLS}


def _hedge_control(name: str) -> None:
    call, done = HEDGE_CONTROLS[name]

    def operation(request: HttpRequest, bot_id: Id) -> Any:
        permissions.require(request.user, permissions.CONTROL)
        bot = call(selectors.hedge_bot_get(bot_id), actor=_actor(request))
        audit.record(request, f"bot_{name.replace('-', '_')}", done, target=bot)
        return {"detail": f"{bot}: {done}", "bots": [selectors.hedge_bot_get(bot.pk)]}

    operation.__name__ = f"hedge_bot_{name.replace('-', '_')}"
    operation.__doc__ = f"{done.capitalize()} for one hedge bot (see bots.services)."
    router.post(
        f"/hedge-bots/{{bot_id}}/{name}",
        response={200: HedgeControlOut, **ERRORS},
        operation_id=f"bots_api_hedge_bot_{name.replace('-', '_')}",
        tags=["control"],
    )(operation)


for _name in ("start", "pause", "emergency-stop"):
    _hedge_control(_name)


@router.post(
    "/hedge-bots/{bot_id}/stop",
    response={200: HedgeControlOut, **ERRORS},
    operation_id="bots_api_hedge_bot_stop",
    tags=["control"],
)
@needs(permissions.CONTROL)
def hedge_bot_stop(request: HttpRequest, bot_id: Id, payload: HedgeStopIn | None = None) -> Any:
    """Stop request for one hedge bot: A's orders are cancelled (verified), both positions kept.
    With `{"close_positions": true}` both legs are closed too (reduce-only, verified)."""
    bot = selectors.hedge_bot_get(bot_id)
    if payload is not None and payload.close_positions:
        bot = services.hedge_bot_stop_close(bot, actor=_actor(request), confirm=True)
        done = "stop and close both legs requested"
        audit.record(request, "bot_stop_close", done, target=bot)
    else:
        bot = services.bot_stop(bot, actor=_actor(request))
        done = "stop requested"
        audit.record(request, "bot_stop", done, target=bot)
    return {"detail": f"{bot}: {done}", "bots": [selectors.hedge_bot_get(bot.pk)]}


# -- orders, fills, events ----------------------------------------------------------------------


@router.get("/orders", response={200: schemas.OrderPage, **ERRORS}, tags=["history"])
@needs(permissions.VIEW_ORDER)
def order_list(
    request: HttpRequest,
    bot_id: Id | None = None,
    account_id: Id | None = None,
    market_id: Id | None = None,
    status: QueryText | None = None,
    live_only: bool = False,
    since: datetime | None = None,
    cursor: Cursor | None = None,
    limit: int = PageLimit,
) -> Any:
    """Orders newest first; `live_only` keeps those that may rest on the book."""
    orders = selectors.order_list(
        bot_id=bot_id,
        account_id=account_id,
        market_id=market_id,
        status=status,
        live_only=live_only,
        since=since,
    )
    return selectors.page(orders, cursor, limit)


@router.get("/fills", response={200: schemas.FillPage, **ERRORS}, tags=["history"])
@needs(permissions.VIEW_FILL)
def fill_list(
    request: HttpRequest,
    bot_id: Id | None = None,
    account_id: Id | None = None,
    market_id: Id | None = None,
    since: datetime | None = None,
    cursor: Cursor | None = None,
    limit: int = PageLimit,
) -> Any:
    """Fills newest first; `since` filters on the execution time."""
    fills = selectors.fill_list(
        bot_id=bot_id, account_id=account_id, market_id=market_id, since=since
    )
    return selectors.page(fills, cursor, limit)


@router.get("/events", response={200: schemas.EventPage, **ERRORS}, tags=["history"])
@needs(permissions.VIEW_EVENT)
def event_list(
    request: HttpRequest,
    bot_id: Id | None = None,
    account_id: Id | None = None,
    level: QueryText | None = None,
    kind: QueryText | None = None,
    search: QueryText | None = None,
    since: datetime | None = None,
    cursor: Cursor | None = None,
    limit: int = PageLimit,
) -> Any:
    """Bot events newest first; `level` is a minimum (warning = warnings and errors)."""
    events = selectors.event_list(
        bot_id=bot_id, account_id=account_id, level=level, kind=kind, search=search, since=since
    )
    return selectors.page(events, cursor, limit)


# -- status and health --------------------------------------------------------------------------


@router.get("/status", response={200: schemas.StatusOut, **ERRORS}, tags=["status"])
@needs(permissions.VIEW)
def status(request: HttpRequest) -> Any:
    """Bots per status and desired state, accounts, live orders."""
    return {"status": "ok", **vars(selectors.site_status())}


@router.get(
    "/health", response={200: dict[str, Any], 503: dict[str, Any], **ERRORS}, tags=["status"]
)
@needs(permissions.VIEW)
def health(request: HttpRequest) -> Any:
    """Database, Redis, Celery workers and beat (the /healthz report); 503 when degraded."""
    from lighterweb.healthz import health_report

    report = health_report()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
