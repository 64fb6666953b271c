"""Reads shared by the admin, the dashboard and the API (house style: `<noun>_get/_list`).

Lists return QuerySets with their foreign keys loaded, so callers can filter further and
serialise with `bots.schemas` without extra queries. `page()` turns any of them into a
newest-first page with an opaque cursor (keyset on the id, so a page never skips or repeats a row
while new rows arrive). A bot's PnL is a small frozen dataclass around the ledger's summary,
serialised by `bots.summary_schemas.PnlOut`; account summaries live in `bots.account_summaries`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Generic, TypeVar

from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from bots import ownership
from bots.models import (
    Bot,
    BotEvent,
    BotStatus,
    DesiredState,
    ExchangeAccount,
    Fill,
    FundingPayment,
    GridBot,
    HedgeBot,
    Market,
    Order,
    PnlSnapshot,
    PositionTransfer,
)
from bots.strategies import accounting
from bots.strategies import returns as returns_core
from bots.strategies.orders import ACTIVE

M = TypeVar("M", bound=Model)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# Orders that may still rest on the book (or are about to): what "open orders" counts.
LIVE_ORDER_STATUSES = tuple(sorted(ACTIVE))
EVENT_LEVEL_RANK = {"debug": 0, "info": 1, "warning": 2, "error": 3}


# -- pages --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page(Generic[M]):
    """Rows newest first and the cursor of the next (older) page, None at the end."""

    items: list[M]
    next_cursor: str | None


def page(rows: QuerySet[M], cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE) -> Page[M]:
    """One page of `rows`, newest (highest id) first, starting after `cursor`.

    Raises ValidationError (field "cursor" or "limit") for a malformed cursor or limit.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError({"limit": f"Limit must be between 1 and {MAX_PAGE_SIZE}."})
    rows = rows.order_by("-pk")
    if cursor:
        rows = rows.filter(pk__lt=_cursor_id(cursor))
    batch = list(rows[: limit + 1])
    more = len(batch) > limit
    items = batch[:limit]
    return Page(items=items, next_cursor=str(items[-1].pk) if more else None)


def _cursor_id(cursor: str) -> int:
    if not cursor.isdigit() or len(cursor) > 18:
        raise ValidationError({"cursor": "Unknown cursor: pass back a next_cursor value."})
    return int(cursor)


# -- accounts and markets -----------------------------------------------------------------------


def account_list() -> QuerySet[ExchangeAccount]:
    """All exchange accounts."""
    return ExchangeAccount.objects.all()


def account_get(account_id: int) -> ExchangeAccount:
    """One account (raises ExchangeAccount.DoesNotExist)."""
    return account_list().get(pk=account_id)


def market_list(network: str | None = None) -> QuerySet[Market]:
    """The markets known on one network (or every network), by symbol."""
    markets = Market.objects.all()
    if network is not None:
        markets = markets.filter(network=network)
    return markets.order_by("network", "symbol")


def market_get(market_id: int) -> Market:
    """One market by our id (raises Market.DoesNotExist)."""
    return Market.objects.get(pk=market_id)


# -- bots ---------------------------------------------------------------------------------------


def bot_list(
    *,
    account_id: int | None = None,
    market_id: int | None = None,
    status: str | None = None,
    desired_state: str | None = None,
) -> QuerySet[GridBot]:
    """Grid bots with their account and market loaded, optionally filtered."""
    bots = GridBot.objects.select_related("account", "market")
    filters = {
        "account_id": account_id,
        "market_id": market_id,
        "status": status,
        "desired_state": desired_state,
    }
    return bots.filter(**{name: value for name, value in filters.items() if value is not None})


def hedge_bot_list(
    *, account_id: int | None = None, market_id: int | None = None, status: str | None = None
) -> QuerySet[HedgeBot]:
    """Hedge bots with both accounts and the market loaded; `account_id` matches either leg."""
    bots = HedgeBot.objects.select_related("account", "taker_account", "market")
    if account_id is not None:
        bots = bots.filter(Q(account_id=account_id) | Q(taker_account_id=account_id))
    filters = {"market_id": market_id, "status": status}
    return bots.filter(**{name: value for name, value in filters.items() if value is not None})


def hedge_bot_get(bot_id: int) -> HedgeBot:
    """One hedge bot (raises HedgeBot.DoesNotExist)."""
    return hedge_bot_list().get(id=bot_id)


def bot_legs(bot: Bot) -> list[tuple[str, int]]:
    """The bot's legs as (the field that names the account, account id), all on `bot.market`."""
    legs = [("account", bot.account_id)]
    if isinstance(bot, HedgeBot):
        legs.append(("taker_account", bot.taker_account_id))
    return legs


def bot_leg_conflicts(bot: Bot) -> dict[str, str]:
    """Per leg field, the other active bot (running or paused, any kind) already trading that
    account on the bot's market: two bots on one account and market would take each other's
    fills and positions for their own."""
    active = Bot.objects.exclude(desired_state=DesiredState.STOPPED).exclude(pk=bot.pk)
    takers = HedgeBot.objects.exclude(desired_state=DesiredState.STOPPED).exclude(pk=bot.pk)
    conflicts: dict[str, str] = {}
    for field, account_id in bot_legs(bot):
        on_leg = {"account_id": account_id, "market_id": bot.market_id}
        other = (
            active.filter(**on_leg).first()
            or takers.filter(taker_account_id=account_id, market_id=bot.market_id).first()
        )
        if other is not None:
            conflicts[field] = (
                f"another {other.kind} is already active on this account and market ({other.name})"
            )
    return conflicts


def account_bots(account: ExchangeAccount) -> QuerySet[Bot]:
    """Every bot (grid or hedge) that trades on `account`, as its account or a hedge's B leg."""
    return Bot.objects.filter(Q(account=account) | Q(hedgebot__taker_account=account)).order_by(
        "pk"
    )


def bot_not_stopped(bot: Bot) -> bool:
    """Whether `bot` is meant to run or its runner may still be alive (anything but stopped or
    ended in error with a stop asked)."""
    return bot.desired_state != DesiredState.STOPPED or bot.status not in (
        BotStatus.STOPPED,
        BotStatus.ERROR,
    )


def bot_get(bot_id: int) -> GridBot:
    """One grid bot (raises GridBot.DoesNotExist)."""
    return bot_list().get(id=bot_id)  # `id`: range-checked, unlike the parent link `pk`


def bot_active_list() -> QuerySet[GridBot]:
    """Bots the operator wants running or paused: the ones a runner must keep alive."""
    return bot_list().exclude(desired_state=DesiredState.STOPPED)


# -- orders, fills, events ----------------------------------------------------------------------


def order_list(
    *,
    bot_id: int | None = None,
    account_id: int | None = None,
    market_id: int | None = None,
    status: str | None = None,
    live_only: bool = False,
    since: datetime | None = None,
) -> QuerySet[Order]:
    """Orders, optionally filtered; `live_only` keeps those that may rest on the book."""
    orders = Order.objects.select_related("market")
    orders = _by_owner(orders, bot_id=bot_id, account_id=account_id, market_id=market_id)
    if status is not None:
        orders = orders.filter(status=status)
    if live_only:
        orders = orders.filter(status__in=LIVE_ORDER_STATUSES)
    if since is not None:
        orders = orders.filter(updated_at__gte=_since_bound(since))
    return orders


def fill_list(
    *,
    bot_id: int | None = None,
    account_id: int | None = None,
    market_id: int | None = None,
    since: datetime | None = None,
) -> QuerySet[Fill]:
    """Fills, optionally filtered (`since` on the execution time)."""
    fills = Fill.objects.select_related("market")
    fills = _by_owner(fills, bot_id=bot_id, account_id=account_id, market_id=market_id)
    if since is not None:
        fills = fills.filter(executed_at__gte=_since_bound(since))
    return fills


def event_list(
    *,
    bot_id: int | None = None,
    account_id: int | None = None,
    level: str | None = None,
    kind: str | None = None,
    search: str | None = None,
    since: datetime | None = None,
) -> QuerySet[BotEvent]:
    """Bot events; `level` is a minimum (warning = warnings and errors), `search` any text."""
    events = BotEvent.objects.all()
    if bot_id is not None:
        events = events.filter(bot_id=bot_id)
    if account_id is not None:
        events = events.filter(account_id=account_id)
    if level is not None:
        if level not in EVENT_LEVEL_RANK:
            raise ValidationError({"level": f"Level must be one of {', '.join(EVENT_LEVEL_RANK)}."})
        rank = EVENT_LEVEL_RANK[level]
        events = events.filter(level__in=[n for n, r in EVENT_LEVEL_RANK.items() if r >= rank])
    if kind:
        events = events.filter(kind=kind)
    if search:
        events = events.filter(Q(message__icontains=search) | Q(kind__icontains=search))
    if since is not None:
        events = events.filter(created_at__gte=_since_bound(since))
    return events


def bot_event_list(bot: Bot, limit: int = 100) -> QuerySet[BotEvent]:
    """The bot's newest events first."""
    return BotEvent.objects.filter(bot=bot).order_by("-created_at", "-id")[:limit]


def _by_owner(rows: QuerySet[M], **owners: int | None) -> QuerySet[M]:
    return rows.filter(**{name: value for name, value in owners.items() if value is not None})


# -- PnL ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BotPnl:
    """A bot's books (`summary`, from bots.strategies.accounting) at `mark_price`, its last known
    price.

    Without a known price `mark_price` is None and the summary values the position at its own
    average entry (any price when flat), so unrealized PnL is 0: the price to show is
    `mark_price`, never `summary.mark_price`.
    """

    bot_id: int
    symbol: str
    mark_price: Decimal | None
    summary: accounting.PnlSummary
    # The bot's market's position that no bot owns, at the account's last exchange read
    # (README "How positions are owned"); None when never read.
    unattributed_base: Decimal | None = None
    # Capital, ROI, APR, round trips, drawdown (README "Returns"): a grid's, when asked for.
    returns: returns_core.Returns | None = None


def bot_ledger(bot: Bot) -> accounting.Ledger:
    """The bot's books folded from its Fill, PositionTransfer and FundingPayment rows, in the
    order they happened."""
    ledger = accounting.Ledger()
    fills = Fill.objects.filter(bot=bot).order_by("executed_at", "trade_id")
    booked: list[tuple[datetime, accounting.Fill | accounting.Transfer]] = []
    for row in fills.values_list(
        "executed_at", "trade_id", "side", "price", "size_base", "fee", "is_maker", "level_index"
    ):
        at, trade_id, side, price, size_base, fee, is_maker, level = row
        booked.append((at, accounting.Fill(trade_id, side, price, size_base, fee, is_maker, level)))
    # Adoptions and hand-overs (README "How positions are owned") in their place in time.
    transfers = PositionTransfer.objects.filter(bot_id=bot.pk).order_by("created_at", "pk")
    for at, pk, size_base, price in transfers.values_list("created_at", "pk", "size_base", "price"):
        booked.append((at, accounting.Transfer(pk, size_base, price)))
    booked.sort(key=lambda item: item[0])  # stable: fills keep their trade id order
    for _, entry in booked:
        if isinstance(entry, accounting.Transfer):
            ledger.apply_transfer(entry)
        else:
            ledger.apply_fill(entry)
    payments = FundingPayment.objects.filter(bot=bot).order_by("paid_at", "funding_id")
    for funding_id, amount in payments.values_list("funding_id", "amount"):
        ledger.apply_funding(accounting.FundingPayment(funding_id, amount))
    return ledger


def bot_open_order_count(bot: Bot) -> int:
    """How many of the bot's orders may rest on the book now."""
    return Order.objects.filter(bot=bot, status__in=LIVE_ORDER_STATUSES).count()


def known_trade_ids(bot: Bot, trade_ids: list[int]) -> set[int]:
    """Which of these trades of the bot's account are already recorded."""
    rows = Fill.objects.filter(account_id=bot.account_id, trade_id__in=trade_ids)
    return set(rows.values_list("trade_id", flat=True))


def bot_pnl(bot: Bot, *, with_returns: bool = False) -> BotPnl:
    """PnL of one bot from its Fill and FundingPayment rows (bots.strategies.accounting), at its
    last price (a grid's last centre price, else the market's). A hedge bot's fills of both legs
    fold into one ledger: its position is the pair's net and its PnL the pair's.

    `with_returns`: a grid bot's returns too (`bot_returns`; more reads: orders, snapshots)."""
    ledger = bot_ledger(bot)
    mark = _grid_last_price(bot) or bot.market.last_price
    # Without a price the position is valued at its own entry: unrealized 0, not a guess.
    valuation = mark or _entry_price(ledger) or Decimal(1)
    summary = ledger.summary(valuation)
    return BotPnl(
        bot_id=bot.pk,
        symbol=bot.market.symbol,
        mark_price=mark,
        summary=summary,
        # What no bot owns is a grid's question (a hedge bot takes both positions as they are).
        unattributed_base=ownership.market_unattributed(bot) if isinstance(bot, GridBot) else None,
        returns=bot_returns(bot, summary) if with_returns and isinstance(bot, GridBot) else None,
    )


def bot_returns(
    bot: GridBot, summary: accounting.PnlSummary, *, now: datetime | None = None
) -> returns_core.Returns:
    """The grid's returns (bots.strategies.returns, README "Returns") from its books `summary`:
    capital in use from its live orders' remaining size and its position at the summary's mark,
    at its leverage and its market's minimum initial margin; days from its start (its first
    fill, or its first run when it has none) to now (to its stop when stopped); drawdown over
    its stored PnL snapshots and the current total."""
    # The model refuses leverage below 1; a row written around it must not fail the PnL read.
    leverage = max(bot.leverage or Decimal(1), Decimal(1))
    fraction = returns_core.initial_margin_fraction(leverage, bot.market.max_leverage)
    live = Order.objects.filter(bot_id=bot.pk, status__in=LIVE_ORDER_STATUSES, price__gt=0)
    resting = [
        (p, max(size - filled, Decimal(0)))
        for p, size, filled in live.values_list("price", "size_base", "filled_base")
    ]
    capital = returns_core.capital_in_use(
        resting, summary.position_base, summary.mark_price, fraction
    )
    totals = PnlSnapshot.objects.filter(bot_id=bot.pk).order_by("time")
    start, end = bot_span(bot, now)
    days = returns_core.days_of((end - start) // timedelta(microseconds=1)) if start else Decimal(0)
    return returns_core.bot_returns(summary, capital, days, totals.values_list("total", flat=True))


def bot_span(bot: Bot, now: datetime | None = None) -> tuple[datetime | None, datetime]:
    """When the bot's books begin (its first fill, else its last start) and end (now; its stop
    time while it is stopped)."""
    now = timezone.now() if now is None else now
    first = (
        Fill.objects.filter(bot_id=bot.pk)
        .order_by("executed_at")
        .values_list("executed_at", flat=True)
        .first()
    )
    start = first or bot.started_at
    end = now
    if bot.status == BotStatus.STOPPED and bot.stopped_at is not None:
        end = bot.stopped_at
    if start is not None and end < start:
        end = start
    return start, end


def _grid_last_price(bot: Bot) -> Decimal | None:
    if isinstance(bot, GridBot):
        price: Decimal | None = bot.last_price
        return price
    # A plain Bot row (a channel's bot list): the grid's price, if it is a grid.
    row = GridBot.objects.filter(pk=bot.pk).values_list("last_price", flat=True).first()
    return Decimal(row) if row is not None else None


def _entry_price(ledger: accounting.Ledger) -> Decimal | None:
    if ledger.position_base == 0:
        return None
    entry = ledger.cost_quote / ledger.position_base
    return entry if entry > 0 else None


_SINCE_FLOOR = datetime(1970, 1, 1, tzinfo=UTC)
_SINCE_CEILING = datetime(9000, 1, 1, tzinfo=UTC)


def _since_bound(since: datetime) -> datetime:
    """`since` within what every database stores (PostgreSQL fails on year-1012 odd offsets).

    Nothing here predates 1970, so an earlier bound means the same as 1970; a naive value is UTC.
    """
    aware = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    return min(max(aware, _SINCE_FLOOR), _SINCE_CEILING)


# -- the whole site -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteStatus:
    """Counts for the status endpoint and the overview header."""

    bots_by_status: dict[str, int]
    bots_by_desired_state: dict[str, int]
    accounts: int
    open_orders: int


def site_status() -> SiteStatus:
    """Bots per status and desired state (every choice present), accounts, live orders."""
    # Every kind of bot (grids and hedge bots).
    statuses = Counter(Bot.objects.values_list("status", flat=True))
    desired = Counter(Bot.objects.values_list("desired_state", flat=True))
    return SiteStatus(
        bots_by_status={choice: statuses[choice] for choice in BotStatus.values},
        bots_by_desired_state={choice: desired[choice] for choice in DesiredState.values},
        accounts=ExchangeAccount.objects.count(),
        open_orders=order_list(live_only=True).count(),
    )
