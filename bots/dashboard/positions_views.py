"""The positions page of one account (README "Positions") and its confirmed actions.

The page reads the positions live from the exchange when it loads (no websocket: an action
reloads it, and so does the browser). Close, TP/SL and the cancel of a TP/SL are POSTs with the
CSRF check and `confirmed=1` (set by the page's script once the operator confirms), calling
`bots.positions` like the API; the answer is `{"detail": ...}` for the script, or a redirect
with a message for a plain form post. Bad input is a 400 naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from types import SimpleNamespace

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from bots import figures, permissions, positions
from bots.dashboard.views import _actor, _answer
from bots.engine.controls import ExchangeActionFailed
from bots.models import ExchangeAccount
from lighterweb import audit

PERCENT = Decimal(100)


class _BadField(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")


def _decimal(request: HttpRequest, field: str, *, percent: bool = False) -> Decimal | None:
    raw = request.POST.get(field, "").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise _BadField(field, f"{raw!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise _BadField(field, "must be a positive number")
    return value / PERCENT if percent else value


def _row_view(row: positions.PositionRow) -> dict[str, object]:
    """A position with every figure as the page shows it (market decimals, units)."""
    market = SimpleNamespace(
        symbol=row.symbol, price_decimals=row.price_decimals, size_decimals=row.size_decimals
    )
    running = [o for o in row.owners if o.active and o.size]
    return {
        "row": row,
        "size": figures.size(row.size, market, unit=True),
        "entry": figures.price(row.entry_price, market, unit=True),
        "mark": figures.price(row.mark_price, market, unit=True),
        "pnl": figures.quote(row.unrealized_pnl, unit=True),
        "liquidation": figures.price(row.liquidation_price, market, unit=True)
        if row.liquidation_price
        else "none",
        "leverage": f"{figures.plain(row.leverage)}x",
        "owners": [(o, figures.size(o.size, market, unit=True)) for o in row.owners if o.size],
        "unattributed": figures.size(row.unattributed, market, unit=True),
        "running": running,
        "triggers": [(t, figures.price(t.trigger_price, market, unit=True)) for t in row.triggers],
        "closing_side": "sell" if row.size > 0 else "buy",
    }


@require_GET
@staff_member_required
@permission_required(permissions.VIEW_ACCOUNT, raise_exception=True)
def positions_page(request: HttpRequest, account_id: int) -> HttpResponse:
    """The account's open positions, read live, with Close and TP/SL."""
    account = get_object_or_404(ExchangeAccount, pk=account_id)
    error = ""
    rows: list[positions.PositionRow] = []
    try:
        rows = positions.account_positions(account)
    except (ExchangeActionFailed, positions.PositionActionRefused) as exc:
        error = str(exc)
    return render(
        request,
        "dashboard/positions.html",
        {
            "title": f"Positions of {account.name}",
            "account": account,
            "rows": [_row_view(r) for r in rows],
            "error": error,
        },
    )


def _back(account_id: int) -> str:
    return reverse("dashboard:positions", args=[account_id])


def _run(
    request: HttpRequest, account_id: int, action: str, call: Callable[[], str]
) -> HttpResponseBase:
    back = _back(account_id)
    if request.POST.get("confirmed") != "1":
        return _answer(request, back, "not confirmed: nothing was done", status=400)
    try:
        detail = call()
    except _BadField as exc:
        return _answer(request, back, str(exc), status=400)
    except positions.PositionActionRefused as exc:
        text = f"{exc.field}: {exc}" if exc.field and exc.status == 400 else str(exc)
        return _answer(request, back, text, status=exc.status)
    except ExchangeActionFailed as exc:
        return _answer(request, back, f"the exchange failed: {exc}", status=502)
    audit.record(request, action, detail, target=get_object_or_404(ExchangeAccount, pk=account_id))
    return _answer(request, back, detail)


@require_POST
@staff_member_required
@permission_required(permissions.CONTROL, raise_exception=True)
def position_close(request: HttpRequest, account_id: int, market_index: int) -> HttpResponseBase:
    """Close one position (market within a slippage, or limit at a worst price)."""
    account = get_object_or_404(ExchangeAccount, pk=account_id)

    def close() -> str:
        limit = request.POST.get("mode") == "limit"
        worst = _decimal(request, "worst_price") if limit else None
        if limit and worst is None:
            raise _BadField("worst_price", "a limit close needs a worst price")
        outcome = positions.position_close(
            account,
            market_index,
            actor=_actor(request),
            confirm=True,
            worst_price=worst,
            max_slippage=None if limit else _decimal(request, "max_slippage_pct", percent=True),
            include_bots=request.POST.get("include_bots") == "1",
        )
        left = figures.plain(abs(outcome.remaining_size))
        text = (
            f"{outcome.symbol}: {outcome.status.replace('_', ' ')}, "
            f"{figures.plain(outcome.closed_size)} closed in {len(outcome.chunks)} order(s) "
            f"within {outcome.worst_price}; {left} left (read back from the exchange)"
        )
        return text + (f": {outcome.reason}" if outcome.status != "closed" else "")

    return _run(request, account_id, "position_close", close)


@require_POST
@staff_member_required
@permission_required(permissions.CONTROL, raise_exception=True)
def position_tpsl(request: HttpRequest, account_id: int, market_index: int) -> HttpResponseBase:
    """Place a position-tied take-profit and/or stop-loss."""
    account = get_object_or_404(ExchangeAccount, pk=account_id)

    def place() -> str:
        triggers = positions.position_trigger_place(
            account,
            market_index,
            actor=_actor(request),
            confirm=True,
            take_profit=_decimal(request, "take_profit"),
            stop_loss=_decimal(request, "stop_loss"),
        )
        return f"{len(triggers)} TP/SL resting on market {market_index}"

    return _run(request, account_id, "position_tpsl", place)


@require_POST
@staff_member_required
@permission_required(permissions.CONTROL, raise_exception=True)
def position_tpsl_cancel(
    request: HttpRequest, account_id: int, market_index: int, order_index: int
) -> HttpResponseBase:
    """Cancel one TP/SL of a position (verified)."""
    account = get_object_or_404(ExchangeAccount, pk=account_id)

    def cancel() -> str:
        positions.position_trigger_cancel(
            account, market_index, order_index, actor=_actor(request), confirm=True
        )
        return f"TP/SL {order_index} cancelled (verified)"

    return _run(request, account_id, "position_tpsl_cancel", cancel)
