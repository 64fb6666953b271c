"""Alerts that no single BotEvent raises: the daily account summary and a request budget that is
running out.

Both run from beat and may run more often than they send: a Redis key per (channel, day) and per
(L1 address, quarter hour) makes each go out once, whichever worker runs the task and however
often beat fires.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import redis
from django.db.models import F
from django.utils import timezone

from bots import selectors
from bots.account_summaries import account_budget_usage
from bots.models import AlertKind, Bot, EventLevel, ExchangeAccount, Fill, FundingPayment
from bots.notify.messages import Notification
from bots.notify.selectors import bots_of_channel, channels_for
from exchange.budget import lane_limits

logger = logging.getLogger(__name__)

SUMMARY_KEY = "lighterweb:notify:summary-sent"
BUDGET_KEY = "lighterweb:notify:budget-warned"
BUDGET_WARN_RATIO = Decimal("0.8")
BUDGET_REPEAT_SECONDS = 900
ZERO = Decimal("0")


@dataclass(frozen=True)
class AccountDay:
    """An account's books (cumulative, from the ledger) and its last 24 hours of trading."""

    account: ExchangeAccount
    grid_profit: Decimal
    other_realized: Decimal
    unrealized: Decimal
    fees: Decimal
    funding: Decimal
    total: Decimal
    fills_24h: int
    volume_quote_24h: Decimal
    fees_24h: Decimal
    funding_24h: Decimal
    round_trips_24h: int


def account_day(account: ExchangeAccount, bots: list[Bot], now: datetime) -> AccountDay:
    """PnL split over the account's bots (at their last prices) and the day's activity."""
    books = [selectors.bot_pnl(bot).summary for bot in bots]
    since = now - timedelta(hours=24)
    fills = Fill.objects.filter(account=account, bot__in=bots, executed_at__gte=since)
    # Summed here, not in SQL: SQLite multiplies decimals as floats.
    trades = list(fills.values_list("price", "size_base", "fee"))
    closing = fills.filter(round_trip_id__isnull=False).exclude(round_trip_id=F("trade_id"))
    funding = FundingPayment.objects.filter(account=account, bot__in=bots, paid_at__gte=since)
    return AccountDay(
        account=account,
        grid_profit=sum((b.grid_profit for b in books), ZERO),
        other_realized=sum((b.other_realized for b in books), ZERO),
        unrealized=sum((b.unrealized for b in books), ZERO),
        fees=sum((b.fees for b in books), ZERO),
        funding=sum((b.funding for b in books), ZERO),
        total=sum((b.total for b in books), ZERO),
        fills_24h=len(trades),
        volume_quote_24h=sum((price * size for price, size, _ in trades), ZERO),
        fees_24h=sum((fee for _, _, fee in trades), ZERO),
        funding_24h=sum(funding.values_list("amount", flat=True), ZERO),
        round_trips_24h=closing.count(),
    )


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


def day_notification(day: AccountDay, local_date: str) -> Notification:
    """The summary message of one account."""
    lines = [
        f"PnL total {_money(day.total)}: grid {_money(day.grid_profit)}, "
        f"other realized {_money(day.other_realized)}, inventory {_money(day.unrealized)}, "
        f"fees {_money(-day.fees)}, funding {_money(day.funding)}",
        f"Last 24 h: {day.fills_24h} fills, volume {_money(day.volume_quote_24h)}, "
        f"{day.round_trips_24h} round trips, fees {_money(-day.fees_24h)}, "
        f"funding {_money(day.funding_24h)}",
    ]
    return Notification(
        kind=AlertKind.DAILY_SUMMARY,
        level=EventLevel.INFO,
        title=f"Daily summary {local_date}: {day.account.name}",
        text="\n".join(lines),
        account_id=day.account.pk,
        data={
            "account": day.account.name,
            **{
                name: str(getattr(day, name))
                for name in AccountDay.__dataclass_fields__
                if name != "account"
            },
        },
    )


def daily_summaries_due(
    client: redis.Redis, now: datetime | None = None
) -> list[tuple[int, Notification]]:
    """One summary per account for every channel whose summary hour it is (once a day)."""
    now = now or timezone.now()
    due = []
    for channel in channels_for(AlertKind.DAILY_SUMMARY, EventLevel.INFO):
        local = channel.local_now(now)
        if local.hour != channel.summary_hour:
            continue
        if not client.set(f"{SUMMARY_KEY}:{channel.pk}:{local.date()}", 1, nx=True, ex=172_800):
            continue
        bots = list(bots_of_channel(channel).select_related("account", "market"))
        for account in sorted({bot.account for bot in bots}, key=lambda a: a.name):
            mine = [bot for bot in bots if bot.account_id == account.pk]
            due.append(
                (channel.pk, day_notification(account_day(account, mine, now), str(local.date())))
            )
    return due


def budget_alerts_due(client: redis.Redis) -> list[tuple[int, Notification]]:
    """A warning per L1 address whose spending passed 80 % of what routine traffic may use (at
    most every 15 minutes). Routine traffic (the bots' placements, reconciles, refreshes) stops at
    the routine lane's cap (37 of a standard 60: exchange.budget.lane_limits); the rest is kept for
    operator commands, so 80 % of the whole window would only ever be reached by an operator."""
    due = []
    seen: set[str] = set()
    for account in ExchangeAccount.objects.filter(bots__isnull=False).distinct():
        address = account.l1_address or f"account-{account.account_index}"
        if address in seen:
            continue
        seen.add(address)
        usage = account_budget_usage(account)
        if usage is None:
            continue
        routine_cap, _ = lane_limits(usage.limit)
        if Decimal(usage.used) < BUDGET_WARN_RATIO * routine_cap:
            continue
        if not client.set(f"{BUDGET_KEY}:{address}", 1, nx=True, ex=BUDGET_REPEAT_SECONDS):
            continue
        notification = Notification(
            kind=AlertKind.BUDGET,
            level=EventLevel.WARNING,
            title=f"Request budget of {account.name} at {100 * usage.used // routine_cap} % "
            "of the bots' share",
            text=f"{address}: {usage.used} of {usage.limit} per {usage.window_s:g} s spent; the "
            f"bots may use {routine_cap} (the rest is kept for operator commands) and will wait "
            "for capacity instead of earning 429s.",
            account_id=account.pk,
            data={
                "address": address,
                "used": usage.used,
                "limit": usage.limit,
                "routine_limit": routine_cap,
            },
        )
        for channel in channels_for(AlertKind.BUDGET, EventLevel.WARNING, account_id=account.pk):
            due.append((channel.pk, notification))
    return due
