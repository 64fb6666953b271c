"""Account summaries: what the overview and the API show about each exchange account.

Balances and positions are those of the account's last exchange check (stored on the row by
"Test connection" and the periodic refresh, `bots.accounts`); open orders and bots come from our
tables; the request budget from Redis, where the exchange client spends it. `AccountSummary` and
its parts are frozen dataclasses whose attributes match `bots.summary_schemas`.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import RedisError

from bots import selectors
from bots.history import snapshots as pnl_history
from bots.models import Bot, BotStatus, ExchangeAccount, GridBot
from bots.ownership import MarketOwnershipRow, account_ownership
from bots.selectors import account_list, order_list
from bots.strategies import returns as returns_core
from bots.strategies.returns import Returns
from exchange.budget import BudgetUsage, budget_usage
from exchange.redis_clients import async_redis_client

logger = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Position:
    """One open position as last reported by the exchange."""

    symbol: str
    side: str
    size_base: Decimal
    avg_entry_price: Decimal | None = None
    unrealized_pnl: Decimal | None = None


@dataclass(frozen=True)
class AccountSummary:
    """An account with what the overview shows about it."""

    account: ExchangeAccount
    equity: Decimal | None
    available_balance: Decimal | None
    collateral: Decimal | None
    positions: list[Position]
    open_orders: int
    bots: int
    bots_running: int
    budget: BudgetUsage | None
    balances_at: datetime | None
    # Per market: the exchange's position = the bots' own + unattributed (bots.ownership).
    ownership: list[MarketOwnershipRow]
    # Its grid bots' returns summed (README "Returns"); None when not asked for.
    returns: Returns | None = None


def account_summary(
    account: ExchangeAccount, *, with_budget: bool = True, with_returns: bool = True
) -> AccountSummary:
    """Balances and positions (last exchange check), our open orders and bots, request budget,
    returns of its grid bots."""
    reported: dict[str, Any] = account.last_check_summary or {}
    # Every bot trading on the account: grids, and hedge bots on either leg.
    on_account = Q(account=account) | Q(hedgebot__taker_account=account)
    bots = Counter(Bot.objects.filter(on_account).values_list("status", flat=True))
    return AccountSummary(
        account=account,
        equity=_decimal_or_none(reported.get("equity")),
        available_balance=_decimal_or_none(reported.get("available_balance")),
        collateral=_decimal_or_none(reported.get("collateral")),
        positions=_positions(reported.get("positions")),
        open_orders=order_list(account_id=account.pk, live_only=True).count(),
        bots=sum(bots.values()),
        bots_running=bots[BotStatus.RUNNING],
        budget=account_budget_usage(account) if with_budget else None,
        balances_at=account.last_checked_at if reported else None,
        ownership=account_ownership(account),
        returns=account_returns(account) if with_returns else None,
    )


def account_returns(account: ExchangeAccount, *, now: datetime | None = None) -> Returns:
    """The account's returns (bots.strategies.returns.account_returns): its grid bots' summed,
    over the days from its earliest bot start to its latest bot end, drawdown over its summed
    PnL snapshots."""
    now = timezone.now() if now is None else now
    per_bot: list[Returns] = []
    spans: list[tuple[datetime, datetime]] = []
    for bot in GridBot.objects.filter(account=account).select_related("market"):
        summary = selectors.bot_pnl(bot).summary
        per_bot.append(selectors.bot_returns(bot, summary, now=now))
        start, end = selectors.bot_span(bot, now)
        if start is not None:
            spans.append((start, end))
    days = Decimal(0)
    if spans:  # from its earliest bot start to its latest bot end
        span = max(end for _, end in spans) - min(start for start, _ in spans)
        days = returns_core.days_of(span // timedelta(microseconds=1))
    totals = pnl_history.account_totals(account.pk, since=_EPOCH)
    return returns_core.account_returns(per_bot, days, totals)


def account_summary_list(*, with_budget: bool = True) -> list[AccountSummary]:
    """The summary of every account, by name."""
    return [account_summary(a, with_budget=with_budget) for a in account_list()]


def account_budget_usage(account: ExchangeAccount) -> BudgetUsage | None:
    """What the shared request budget of the account's L1 address has spent (None if unknown)."""
    key = account.budget_key

    async def read() -> BudgetUsage:
        client = async_redis_client(settings.REDIS_URL, timeout_s=0.5)
        try:
            return await budget_usage(client, key, account.tier)  # type: ignore[arg-type]
        finally:
            await client.aclose()

    try:
        return async_to_sync(read)()
    except (RedisError, OSError) as exc:
        logger.warning("account %s: request budget unreadable: %s", account.pk, exc)
        return None


def _decimal_or_none(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


def _positions(raw: Any) -> list[Position]:
    positions = []
    for item in raw if isinstance(raw, list) else []:
        size = _decimal_or_none(item.get("size")) if isinstance(item, dict) else None
        if size is None or size == 0:
            continue
        positions.append(
            Position(
                symbol=str(item.get("symbol", "")),
                side=str(item.get("side", "")),
                size_base=size,
                avg_entry_price=_decimal_or_none(item.get("avg_entry_price")),
                unrealized_pnl=_decimal_or_none(item.get("unrealized_pnl")),
            )
        )
    return positions
