"""PnL over time: periodic snapshots of each running bot's PnL split, and the series read back.

`snapshot_all` runs once a minute (beat -> `bots.history.tasks.pnl_snapshot_task` on the default
queue, never the runner): for every running or paused bot it stores the books the bot page shows
(`bots.selectors.bot_pnl`: its fills and funding at its last price, the mark the runner writes)
as one `PnlSnapshot` stamped with the minute of the run. One ledger per bot per minute, however
many pages are open: the pages read the stored rows.

Pruning (`prune`, after each run): snapshots older than `DENSE_DAYS` are thinned to the first one
of each hour per bot; snapshots older than `KEEP_DAYS` are deleted.

The account's series (`account_series`) sums its bots at each snapshot time, carrying each bot's
last snapshot forward while it is stopped (its PnL stays what it was when it stopped).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from bots import selectors
from bots.models import BotStatus, GridBot, PnlSnapshot

logger = logging.getLogger(__name__)

SNAPSHOT_SECONDS = 60.0
DENSE_DAYS = 2
KEEP_DAYS = 90
DEFAULT_DAYS = 7
SNAPSHOT_STATUSES = (BotStatus.RUNNING, BotStatus.PAUSED)
_PLACES = Decimal("1e-10")  # money_field's decimal places
FIGURES = ("total", "realized", "inventory", "fees", "funding")


def _q(value: Decimal) -> Decimal:
    return value.quantize(_PLACES)


def snapshot_bot(bot: GridBot, at: datetime) -> PnlSnapshot | None:
    """Store `bot`'s PnL split at `at` (None if this minute already has one)."""
    pnl = selectors.bot_pnl(bot)
    s = pnl.summary
    row = PnlSnapshot(
        bot=bot,
        time=at,
        total=_q(s.total),
        realized=_q(s.realized),
        inventory=_q(s.unrealized),
        fees=_q(s.fees),
        funding=_q(s.funding),
        position=_q(s.position_base),
        mark=None if pnl.mark_price is None else _q(pnl.mark_price),
    )
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        return None  # a second run in the same minute (beat restarted): the first one stands
    return row


def snapshot_all(now: datetime | None = None) -> int:
    """One snapshot of every running or paused bot, stamped with the minute; then prune."""
    now = timezone.now() if now is None else now
    at = now.replace(second=0, microsecond=0)
    written = 0
    bots = GridBot.objects.filter(status__in=SNAPSHOT_STATUSES).select_related("market", "account")
    for bot in bots:
        try:
            written += snapshot_bot(bot, at) is not None
        except Exception:  # one bot's books must not stop the others' snapshots
            logger.exception("bot %s: PnL snapshot failed", bot.pk)
    prune(now)
    return written


def prune(now: datetime) -> int:
    """Thin snapshots older than DENSE_DAYS to one per bot per hour; delete those older than
    KEEP_DAYS. Returns the number of rows deleted."""
    deleted, _ = PnlSnapshot.objects.filter(time__lt=now - timedelta(days=KEEP_DAYS)).delete()
    old = PnlSnapshot.objects.filter(time__lt=now - timedelta(days=DENSE_DAYS)).order_by(
        "bot_id", "time"
    )
    seen: set[tuple[int, datetime]] = set()
    extra: list[int] = []
    for pk, bot_id, at in old.values_list("pk", "bot_id", "time").iterator():
        hour = (bot_id, at.replace(minute=0, second=0, microsecond=0))
        if hour in seen:
            extra.append(pk)
        else:
            seen.add(hour)
    for start in range(0, len(extra), 500):
        deleted += PnlSnapshot.objects.filter(pk__in=extra[start : start + 500]).delete()[0]
    return deleted


@dataclass(frozen=True)
class PnlPoint:
    """One point of a PnL-over-time series; amounts in quote."""

    time: datetime
    total: Decimal
    realized: Decimal
    inventory: Decimal
    fees: Decimal
    funding: Decimal
    position: Decimal | None = None  # per bot only (a sum over markets means nothing)
    mark: Decimal | None = None


def _since(since: datetime | None) -> datetime:
    return timezone.now() - timedelta(days=DEFAULT_DAYS) if since is None else since


def bot_series(bot: GridBot, since: datetime | None = None) -> list[PnlPoint]:
    """The bot's snapshots from `since` (default: the last DEFAULT_DAYS days), oldest first."""
    rows = PnlSnapshot.objects.filter(bot=bot, time__gte=_since(since)).order_by("time")
    return [
        PnlPoint(r.time, r.total, r.realized, r.inventory, r.fees, r.funding, r.position, r.mark)
        for r in rows
    ]


def account_series(account_id: int, since: datetime | None = None) -> list[PnlPoint]:
    """The sum over the account's bots at each snapshot time, each bot's last snapshot carried
    forward (a stopped bot keeps its PnL), oldest first."""
    rows = (
        PnlSnapshot.objects.filter(bot__account_id=account_id, time__gte=_since(since))
        .order_by("time", "bot_id")
        .values_list("time", "bot_id", *FIGURES)
    )
    return list(_summed(rows))


def account_totals(account_id: int, since: datetime | None = None) -> list[Decimal]:
    """The account series' `total` alone (as `account_series` sums it), oldest first: what its
    drawdown needs, reading one column instead of five."""
    rows = (
        PnlSnapshot.objects.filter(bot__account_id=account_id, time__gte=_since(since))
        .order_by("time", "bot_id")
        .values_list("time", "bot_id", "total")
    )
    last: dict[int, Decimal] = {}
    totals: list[Decimal] = []
    current: datetime | None = None
    for at, bot_id, total in rows.iterator():
        if current is not None and at != current:
            totals.append(sum(last.values(), Decimal(0)))
        current = at
        last[bot_id] = total
    if current is not None:
        totals.append(sum(last.values(), Decimal(0)))
    return totals


def _summed(rows: Iterable[tuple[Any, ...]]) -> Iterator[PnlPoint]:
    last: dict[int, tuple[Decimal, ...]] = {}
    current: datetime | None = None
    for at, bot_id, *figures in rows:
        if current is not None and at != current:
            yield _point(current, last)
        current = at
        last[bot_id] = tuple(figures)
    if current is not None:
        yield _point(current, last)


def _point(at: datetime, last: dict[int, tuple[Decimal, ...]]) -> PnlPoint:
    sums = [sum((figures[i] for figures in last.values()), Decimal(0)) for i in range(5)]
    return PnlPoint(at, *sums)
