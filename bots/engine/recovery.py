"""Startup is recovery, and the same reconcile runs on a slow timer and after reconnects.

`reconcile` makes the runner's picture match the exchange's over REST:

- our active Order rows that the exchange lists as open are adopted (by client order index, so a
  restarted runner never places them again); the others are looked up by client index and take
  their final state (filled, cancelled) or, when the exchange has no record, are marked rejected
  ("never executed": a crash between persisting the intent and sending it);
- open orders on the bot's market that are not this bot's are reported once as foreign and never
  touched;
- fills missed while the runner was down or disconnected are recorded (once: trade ids are
  unique per account), and move the grid like live fills;
- the account's position is read, for the ownership check (`bots.engine.ownership`): only
  the bot's own fills and adoptions count towards its caps and PnL.

Nothing here knows the runner: each function gets the bot, its fence, the client and the ledger,
and returns what it found (`Reconciled`); the runner applies that to the state it owns. The
dead-man's switch lives here too: it is the runner's other REST-side duty.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from bots import selectors
from bots.engine import recording, reports
from bots.engine.db_thread import db
from bots.engine.deadman import ARM_SECONDS
from bots.engine.intake import signed_size
from bots.engine.reports import VenueChanged
from bots.models import Bot, BotStatus, ExchangeAccount, Fill, Order
from bots.ownership import market_bots
from bots.strategies import accounting
from bots.strategies.orders import OrderStatus
from exchange.client import LighterClient
from exchange.types import FillInfo, OrderInfo, PositionInfo

logger = logging.getLogger(__name__)

CONFIRMED_RESTING = (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)
# A row sent this recently may not be visible over REST yet: not "missing" before this age.
MISSING_GRACE_S = 10.0
MAX_FILL_PAGES = 10
DEAD_MANS_SWITCH_S = ARM_SECONDS  # re-armed every minute by the runner


@dataclass
class Reconciled:
    """What a reconcile found: counts for the log, new fills, the position, foreign orders and
    the bot's active rows afterwards."""

    adopted: int = 0
    resolved: int = 0
    fills: list[Fill] = field(default_factory=list)
    position: Decimal = Decimal(0)
    positions: list[PositionInfo] = field(default_factory=list)
    foreign: list[OrderInfo] = field(default_factory=list)
    active: list[Order] = field(default_factory=list)


async def reconcile(
    bot: Bot,
    fence: int,
    client: LighterClient,
    ledger: accounting.Ledger,
    *,
    fills: bool = True,
    grace_s: float = MISSING_GRACE_S,
    positions: bool = True,
) -> Reconciled:
    """Match orders, fills and position with the exchange (see the module docstring).

    `positions=False` (a stop's read-back): the account's positions are not read, and
    `found.positions` stays empty; it is one request less of a scarce budget."""
    market_id = bot.market.market_id
    found = Reconciled()
    rows = await db(recording.active_orders, writes=False)(bot)
    open_orders = await client.open_orders(market_id)
    ours = {row.client_order_index: row for row in rows}
    adopted_reports = [o for o in open_orders if o.client_order_index in ours]
    await db(reports.orders_report)(bot, fence, adopted_reports)
    found.adopted = len(adopted_reports)
    open_indexes = {o.client_order_index for o in open_orders}
    cutoff = timezone.now() - timedelta(seconds=grace_s)
    absent = [r for r in rows if r.client_order_index not in open_indexes]
    if absent:
        reported = await client.orders_by_client_index([r.client_order_index for r in absent])
        reported = [o for o in reported if o.market_id == market_id]
        await db(reports.orders_report)(bot, fence, reported)
        known = {o.client_order_index for o in reported}
        lost = [r for r in absent if r.client_order_index not in known and _older(r, cutoff)]
        vanished = [r for r in lost if r.status in CONFIRMED_RESTING]
        if vanished:
            # Intents and sends the venue never saw are normal (a crash before the send);
            # orders it reported resting and no longer knows at all are not.
            raise VenueChanged(
                f"{len(vanished)} orders the exchange reported resting are unknown to it now"
            )
        if lost:
            await db(recording.orders_resolved_missing)(
                bot, fence, lost, "never executed by the exchange"
            )
        found.resolved = len(known) + len(lost)
    found.foreign = [o for o in open_orders if o.client_order_index not in ours]
    if fills:
        found.fills = await missed_fills(bot, fence, client, ledger)
    if positions:
        found.positions = list(await client.positions())
        position = next((p for p in found.positions if p.market_id == market_id), None)
        found.position = signed_size(position) if position is not None else Decimal(0)
    found.active = await db(recording.active_orders, writes=False)(bot)
    return found


def _older(row: Order, cutoff: datetime) -> bool:
    return (row.sent_at or row.created_at) <= cutoff


async def missed_fills(
    bot: Bot, fence: int, client: LighterClient, ledger: accounting.Ledger
) -> list[Fill]:
    """Read fill history newest first until a page holds a fill we already have, then record
    what was missed oldest first, in one transaction (round trips pair in the order of trading)."""
    missed: list[FillInfo] = []
    born_ms = bot.created_at.timestamp() * 1000
    cursor: str | None = None
    for _page in range(MAX_FILL_PAGES):
        page = await client.fills(bot.market.market_id, limit=100, cursor=cursor)
        page_fills = list(page.items)
        known = await db(selectors.known_trade_ids, writes=False)(
            bot, [f.trade_id for f in page_fills]
        )
        # Known ones too: fills_record skips them, but first checks they still say the same.
        missed += page_fills
        # Older pages hold nothing new once one holds a recorded fill or predates the bot.
        predates = any(f.timestamp_ms < born_ms for f in page_fills)
        if known or predates or page.next_cursor is None:
            break
        cursor = page.next_cursor
    return await db(reports.fills_record)(bot, fence, missed, ledger)


async def dead_mans_switch_keep(client: LighterClient, account: ExchangeAccount) -> None:
    """The runner's periodic turn of the switch, with the account's choice as it is now (an
    operator may turn it on or off while the bots run): on, re-armed; off, a schedule still
    armed by the runners is aborted (it would cancel the orders the operator chose to keep if
    the runners died)."""
    account.dead_mans_switch = await db(_dead_mans_switch_choice, writes=False)(account.pk)
    if account.dead_mans_switch_enabled:
        await dead_mans_switch_arm(client, account)
    else:
        await _abort_claimed(client, account.pk)


def _dead_mans_switch_choice(account_id: int) -> bool | None:
    choice: bool | None = ExchangeAccount.objects.values_list("dead_mans_switch", flat=True).get(
        pk=account_id
    )
    return choice


async def dead_mans_switch_arm(client: LighterClient, account: ExchangeAccount) -> None:
    """Keep Lighter's scheduled cancel-all a few minutes ahead while the bot runs."""
    if not account.dead_mans_switch_enabled:
        return
    at_ms = await client.arm_dead_mans_switch(DEAD_MANS_SWITCH_S)
    until = datetime.fromtimestamp(at_ms / 1000, tz=UTC)
    await _account_armed_until(account.pk, until)


async def dead_mans_switch_release(
    client: LighterClient, account: ExchangeAccount, bot: Bot
) -> None:
    """On `bot`'s clean stop, abort the account's scheduled cancel-all unless another bot
    trading on the account (a grid, either leg of a hedge bot) runs.

    Once per account: the stops of several bots at once (an emergency stop) would each find no
    other bot running, and each abort it, spending the operator's scarce share of the request
    budget. The first claims the release in the database (`_release_claim`); the others find it
    released and send nothing. An abort that fails puts the claim back."""
    if not account.dead_mans_switch_enabled:
        return
    others = await db(_other_bots_alive)(account, bot)
    if others:
        return
    await _abort_claimed(client, account.pk)


async def _abort_claimed(client: LighterClient, account_id: int) -> None:
    """Abort the account's scheduled cancel-all once: the first caller claims the release in
    the database and sends the abort; the others find it released (or never armed) and send
    nothing. An abort that fails puts the claim back."""
    armed_until = await db(_release_claim)(account_id)
    if armed_until is None:
        return
    try:
        await client.abort_dead_mans_switch()
    except BaseException:
        await _account_armed_until(account_id, armed_until)  # still armed on the exchange
        raise


def _release_claim(account_id: int) -> datetime | None:
    """Clear the account's armed-until and return what it was (None: nothing to release)."""
    with transaction.atomic():
        armed_until = (
            ExchangeAccount.objects.select_for_update()
            .values_list("dead_mans_switch_armed_until", flat=True)
            .get(pk=account_id)
        )
        if armed_until is not None:
            ExchangeAccount.objects.filter(pk=account_id).update(dead_mans_switch_armed_until=None)
    return armed_until


def _other_bots_alive(account: ExchangeAccount, bot: Bot) -> bool:
    alive = Q(
        status__in=[BotStatus.RUNNING, BotStatus.DEGRADED, BotStatus.PAUSED, BotStatus.STARTING]
    )
    return market_bots(account.pk).filter(alive).exclude(pk=bot.pk).exists()


async def _account_armed_until(account_id: int, until: datetime | None) -> None:
    def write() -> None:
        ExchangeAccount.objects.filter(pk=account_id).update(dead_mans_switch_armed_until=until)

    await db(write)()
