"""Dashboard-only read models: the snapshots a page receives when its websocket connects.

Rows are the REST API's schemas (`bots.schemas`), so a snapshot and the live pushes that follow
it (`bots.dashboard.broadcast`) carry the same shapes; the page merges pushes into the snapshot by
id.
Everything here is synchronous ORM; consumers call it through `database_sync_to_async`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q

from bots import hedge_selectors, schemas, selectors
from bots.account_summaries import AccountSummary, account_summary, account_summary_list
from bots.models import BotEvent, Fill, GridBot, Order, OrderStatus
from bots.selectors import LIVE_ORDER_STATUSES
from bots.strategies.grid import GridState, MarketView, empty_levels
from bots.strategies.grid.config import (
    Lattice,
    Side,
)
from bots.summary_schemas import AccountSummaryOut, PnlOut

logger = logging.getLogger(__name__)

ENDED_WITH_REASON = (OrderStatus.CANCELED, OrderStatus.REJECTED)
RECENT_FILLS = 100
RECENT_EVENTS = 200
RECENT_ENDED_ORDERS = 200


def overview_snapshot() -> dict[str, Any]:
    """Every account and every bot (with open order count and PnL), for the overview page."""
    open_counts = Count("orders", filter=Q(orders__status__in=LIVE_ORDER_STATUSES))
    bots = selectors.bot_list().annotate(open_orders=open_counts).order_by("name")
    return {
        "accounts": [_account_row(summary) for summary in account_summary_list()],
        "bots": [bot_row(bot, open_orders=bot.open_orders) for bot in bots],
    }


def account_row(account_id: int) -> dict[str, Any] | None:
    """One account for the overview (balances, positions, budget, switch); None if gone."""
    account = selectors.account_list().filter(pk=account_id).first()
    return _account_row(account_summary(account)) if account is not None else None


def _account_row(summary: AccountSummary) -> dict[str, Any]:
    row = schemas.payload(AccountSummaryOut, summary)
    row["dead_mans_switch_enabled"] = summary.account.dead_mans_switch_enabled
    return row


def bot_row(bot: GridBot, *, open_orders: int) -> dict[str, Any]:
    """One bot for the overview: the REST shape plus its open order count and PnL split."""
    row = schemas.payload(schemas.GridBotOut, bot)
    row["open_orders"] = open_orders
    row["pnl"] = pnl_row(bot)
    return row


def bot_summary(bot_id: int) -> dict[str, Any] | None:
    """A bot's overview figures that orders and fills change: open orders and PnL."""
    bot = selectors.bot_list().filter(id=bot_id).first()
    if bot is None:
        return None
    open_orders = Order.objects.filter(bot=bot, status__in=LIVE_ORDER_STATUSES).count()
    return {"id": bot.pk, "open_orders": open_orders, "pnl": pnl_row(bot)}


def pnl_row(bot: GridBot) -> dict[str, Any]:
    """The bot's PnL split (grid profit, inventory, fees, funding) in the REST shape."""
    return schemas.payload(PnlOut, selectors.bot_pnl(bot, with_returns=True))


def bot_refresh(bot_id: int) -> dict[str, Any] | None:
    """What a bot page recomputes after pushes: the ladder and the PnL (None if the bot is gone)."""
    bot = selectors.bot_list().filter(id=bot_id).first()
    if bot is None:
        return None
    pnl = selectors.bot_pnl(bot, with_returns=True)
    return {
        "ladder": ladder(bot, pnl.summary.position_base),
        "pnl": schemas.payload(PnlOut, pnl),
    }


def hedge_row(bot_id: int) -> dict[str, Any] | None:
    """One hedge bot's overview row (status, desired state, the core's state, the net at the
    accounts' last checks), as the overview renders it; None if no such hedge bot."""
    bot = selectors.hedge_bot_list().filter(id=bot_id).first()
    if bot is None:
        return None
    view = hedge_selectors.hedge_view(bot, events=0)
    return {
        "id": bot.pk,
        "status": bot.status,
        "desired_state": bot.desired_state,
        "state": view.state,
        "net_base": None if view.net_base is None else str(view.net_base),
        "net_class": hedge_selectors.net_class(view),
    }


def hedge_snapshot(bot_id: int) -> dict[str, Any] | None:
    """A hedge bot's page figures as its live feed sends them (None if no such hedge bot)."""
    bot = selectors.hedge_bot_list().filter(id=bot_id).first()
    return None if bot is None else hedge_selectors.hedge_live(bot)


def bot_snapshot(bot_id: int) -> dict[str, Any]:
    """Everything a bot page shows: the bot, its ladder, orders, fills and events.

    Raises GridBot.DoesNotExist for an unknown id.
    """
    bot = selectors.bot_get(bot_id)
    live_orders = list(
        Order.objects.filter(bot=bot, status__in=LIVE_ORDER_STATUSES)
        .select_related("market")
        .order_by("-price")
    )
    fills = Fill.objects.filter(bot=bot).select_related("market").order_by("-executed_at")
    events = BotEvent.objects.filter(bot=bot).order_by("-created_at", "-id")
    pnl = selectors.bot_pnl(bot, with_returns=True)
    return {
        "bot": bot_row(bot, open_orders=len(live_orders)),
        "ladder": ladder(bot, pnl.summary.position_base),
        "pnl": schemas.payload(PnlOut, pnl),
        "orders": [schemas.payload(schemas.OrderOut, order) for order in live_orders],
        "fills": [schemas.payload(schemas.FillOut, fill) for fill in fills[:RECENT_FILLS]],
        "events": [schemas.payload(schemas.EventOut, event) for event in events[:RECENT_EVENTS]],
    }


@dataclass(frozen=True)
class LadderLevel:
    """One grid level as the page draws it."""

    level_index: int
    price: Decimal
    side: str  # "buy", "sell" or "centre" (the centre level stays empty by design)
    state: str  # resting, filling, sending, missing, centre
    order_id: int | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "level_index": self.level_index,
            "price": format(self.price.normalize(), "f"),
            "side": self.side,
            "state": self.state,
            "order_id": self.order_id,
            "reason": self.reason,
        }


def ladder(bot: GridBot, position_base: Decimal) -> list[dict[str, Any]]:
    """The grid window around the centre, top price first; empty until the runner anchors it.

    Each level says whether its order rests, is partly filled, is on its way, or is missing. A
    missing level says why: the grid's own reason not to want an order there at the bot's own
    `position_base` (its position cap, `max_open_orders`, a crossed stop: `empty_levels`, the
    core's rule), else the reason the exchange gave when the last order there was cancelled or
    rejected (an order the grid wants and has not placed again yet).
    """
    if bot.anchor_price is None or bot.centre_index is None:
        return []
    centre, n = bot.centre_index, bot.levels_per_side
    window = range(centre - n, centre + n + 1)
    live = {
        order.level_index: order
        for order in Order.objects.filter(
            bot=bot, status__in=LIVE_ORDER_STATUSES, level_index__in=window
        )
    }
    reasons: dict[int, str] = {}
    ended = Order.objects.filter(
        bot=bot, status__in=ENDED_WITH_REASON, level_index__in=window
    ).order_by("-updated_at")[:RECENT_ENDED_ORDERS]
    for order in ended:
        if order.level_index is not None and order.level_index not in reasons:
            reasons[order.level_index] = order.reason or order.exchange_status or order.status
    lattice = _lattice(bot)
    if lattice is None:
        return []
    # The book is not at hand here: post-only safety is left to the exchange's reason.
    mid = lattice.price(centre)
    if mid > 0:
        state, market = GridState(lattice.anchor, centre), MarketView(None, None, mid)
        reasons |= empty_levels(state, lattice.config, market, position_base)
    levels = [_level(lattice, k, centre, live.get(k), reasons.get(k, "")) for k in reversed(window)]
    return [level.as_dict() for level in levels]


def _level(lattice: Lattice, k: int, centre: int, order: Order | None, reason: str) -> LadderLevel:
    side = Side.BUY if k < centre else Side.SELL
    price = lattice.price(k, side)
    if k == centre:
        return LadderLevel(k, price, "centre", "centre", None, "")
    if order is None:
        return LadderLevel(k, price, side.value, "missing", None, reason)
    state = {
        OrderStatus.OPEN: "resting",
        OrderStatus.PARTIALLY_FILLED: "filling",
    }.get(OrderStatus(order.status), "sending")
    return LadderLevel(k, order.price, side.value, state, order.pk, "")


def _lattice(bot: GridBot) -> Lattice | None:
    """The bot's lattice as the grid core computes it (None when its config is unusable)."""
    if bot.anchor_price is None:
        return None
    try:
        config = bot.grid_config()
        return Lattice(bot.anchor_price, config)
    except ValueError as error:
        logger.info("bot %s %s: no ladder to show: %s", bot.pk, bot.market.symbol, error)
        return None
