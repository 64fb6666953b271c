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
- the position is read from the account, so an existing position counts towards the caps.

`startup` adds the lattice: the anchor of earlier runs (`GridBot.anchor_price`) is kept, so the
levels of recorded fills stay comparable for accounting, and the centre follows the price.
Risk exits and the dead-man's switch live here too: they are the runner's other REST-side duties.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import Q
from django.utils import timezone

from bots import selectors
from bots.engine import recording, reports
from bots.engine.db_thread import db
from bots.models import BotStatus, DesiredState, EventLevel, ExchangeAccount, GridBot, Order
from bots.strategies.grid import GridState, RiskAction, initial_state, on_price
from exchange.errors import ExchangeError
from exchange.types import FillInfo, OrderInfo, PositionInfo, PositionSide

if TYPE_CHECKING:
    from bots.engine.runner import BotRunner

logger = logging.getLogger(__name__)

# A row sent this recently may not be visible over REST yet: not "missing" before this age.
MISSING_GRACE_S = 10.0
MAX_FILL_PAGES = 10
FLATTEN_CLIENT_INDEXES = 3
STOP_VERIFY_TIMEOUT_S = 10.0
DEAD_MANS_SWITCH_S = 300  # Lighter's minimum; re-armed every minute by the runner


def signed_size(position: PositionInfo) -> Decimal:
    """Position in base units, positive long, negative short."""
    if position.side is PositionSide.SHORT:
        return -abs(position.size)
    if position.side is PositionSide.LONG:
        return abs(position.size)
    return Decimal(0)


async def startup(runner: BotRunner) -> None:
    """Reconcile with the exchange, take over the position, restore the lattice, report."""
    runner.ledger = await db(selectors.bot_ledger, writes=False)(runner.bot)
    adopted, missing, fills = await reconcile(runner, grace_s=0.0)
    market = runner.market_view()
    assert market is not None  # the runner waited for the first book
    bot = runner.bot
    state = initial_state(runner.config, market.mid, bot.anchor_price)
    if bot.centre_index is not None and bot.anchor_price is not None:
        state = on_price(GridState(bot.anchor_price, bot.centre_index), runner.config, market.mid)
    runner.state = state
    await runner.update(anchor_price=state.anchor, centre_index=state.centre, last_price=market.mid)
    await runner.event(
        "recovered",
        f"adopted {adopted} resting orders, resolved {missing}, recorded {fills} missed fills, "
        f"position {runner.position} {runner.symbol}; centre {state.centre} @ {market.mid}",
        adopted=adopted,
        resolved=missing,
        fills=fills,
        position=str(runner.position),
        anchor=str(state.anchor),
    )


async def reconcile(
    runner: BotRunner, *, fills: bool = True, grace_s: float = MISSING_GRACE_S
) -> tuple[int, int, int]:
    """Match orders, fills and position with the exchange; returns (adopted, resolved, fills)."""
    bot, fence, client = runner.bot, runner.fence, runner.client
    rows = await db(recording.active_orders, writes=False)(bot)
    open_orders = await client.open_orders(runner.market_id)
    ours = {row.client_order_index: row for row in rows}
    adopted_reports = [o for o in open_orders if o.client_order_index in ours]
    await db(reports.orders_report)(bot, fence, adopted_reports)
    open_indexes = {o.client_order_index for o in open_orders}
    cutoff = timezone.now() - timedelta(seconds=grace_s)
    absent = [r for r in rows if r.client_order_index not in open_indexes]
    resolved = 0
    if absent:
        found = await client.orders_by_client_index([r.client_order_index for r in absent])
        found = [o for o in found if o.market_id == runner.market_id]
        await db(reports.orders_report)(bot, fence, found)
        known = {o.client_order_index for o in found}
        lost = [r for r in absent if r.client_order_index not in known and _older(r, cutoff)]
        if lost:
            await db(recording.orders_resolved_missing)(
                bot, fence, lost, "never executed by the exchange"
            )
        resolved = len(known) + len(lost)
    await _report_foreign(runner, [o for o in open_orders if o.client_order_index not in ours])
    fill_count = await _missed_fills(runner) if fills else 0
    positions = await client.positions()
    position = next((p for p in positions if p.market_id == runner.market_id), None)
    runner.position = signed_size(position) if position is not None else Decimal(0)
    fresh = await db(recording.active_orders, writes=False)(bot)
    runner.live = {}
    runner.track(fresh)
    runner.cancelling &= set(runner.live)
    return len(adopted_reports), resolved, fill_count


def _older(row: Order, cutoff: datetime) -> bool:
    return (row.sent_at or row.created_at) <= cutoff


async def _report_foreign(runner: BotRunner, orders: list[OrderInfo]) -> None:
    seen = runner.foreign_seen
    for order in orders:
        if order.client_order_index in seen:
            continue
        seen.add(order.client_order_index)
        await runner.event(
            "foreign_order",
            f"{order.side} {order.remaining_size} @ {order.price} is not this bot's: left alone",
            EventLevel.WARNING,
            client_order_index=order.client_order_index,
            order_index=order.order_index,
        )


async def _missed_fills(runner: BotRunner) -> int:
    """Read fill history newest first until a page holds a fill we already have, then record
    what was missed oldest first, in one transaction (round trips pair in the order of trading)."""
    missed: list[FillInfo] = []
    born_ms = runner.bot.created_at.timestamp() * 1000
    cursor: str | None = None
    for _page in range(MAX_FILL_PAGES):
        page = await runner.client.fills(runner.market_id, limit=100, cursor=cursor)
        fills = list(page.items)
        known = await db(selectors.known_trade_ids, writes=False)(
            runner.bot, [f.trade_id for f in fills]
        )
        missed += [f for f in fills if f.trade_id not in known]
        # Older pages hold nothing new once one holds a recorded fill or predates the bot.
        predates = any(f.timestamp_ms < born_ms for f in fills)
        if known or predates or page.next_cursor is None:
            break
        cursor = page.next_cursor
    new = await db(reports.fills_record)(runner.bot, runner.fence, missed, runner.ledger)
    await runner.apply_new_fills(new)
    return len(new)


async def cancel_all_request(runner: BotRunner, requested_at: datetime) -> None:
    """The operator's "cancel all" for this bot: cancel (verified), then carry on as before.

    Services send it to a paused bot; a running one places its grid again on the next plan.
    """
    status = runner.bot.status
    await orders_cancel(runner, "cancel all requested")
    await db(recording.cancel_all_done)(runner.bot, runner.fence, requested_at)
    await runner.update(status=status, status_message="")
    await runner.event("orders_cancelled", "all orders of the bot cancelled (verified)")


async def orders_cancel(runner: BotRunner, reason: str) -> None:
    """Cancel every active order of the bot and verify it from REST; raise if they stay."""
    await runner.update(status=BotStatus.STOPPING, status_message=reason)
    deadline = time.monotonic() + STOP_VERIFY_TIMEOUT_S
    while True:
        await reconcile(runner, fills=False)
        ours = sorted(runner.live)
        if not ours:
            return
        if time.monotonic() >= deadline:
            raise ExchangeError(f"{runner.symbol}: {len(ours)} orders still open after stop")
        runner.cancelling.update(ours)
        await runner.client.replace_orders(runner.market_id, ours, [])
        runner.sends += 1
        # The stream reports the cancels within milliseconds; REST then confirms.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                event = await runner.events.get()
            await runner.on_event(event)


async def risk_exit(runner: BotRunner, risk: RiskAction) -> None:
    """Stop-loss / take-profit: stop placing, cancel (verified), optionally flatten, stop."""
    reason = f"{risk.trigger.value} hit at {runner.market_view()}"
    await runner.event("risk_exit", reason, EventLevel.WARNING, trigger=risk.trigger.value)
    await runner.stop_orders(reason)
    if risk.flatten_base != 0:
        indexes = await db(runner.bot.account.allocate_client_order_indexes)(FLATTEN_CLIENT_INDEXES)
        result = await runner.client.close_position(runner.market_id, indexes)
        await runner.event(
            "flatten",
            f"position close: {result.status.value} ({result.closed_size} {runner.symbol})",
            EventLevel.WARNING if result.status.value != "closed" else EventLevel.INFO,
        )
    await runner.update(
        status=BotStatus.STOPPED,
        desired_state=DesiredState.STOPPED,
        status_message=reason,
        stopped_at=timezone.now(),
    )
    runner.finished = BotStatus.STOPPED


async def dead_mans_switch_arm(runner: BotRunner) -> None:
    """Keep Lighter's scheduled cancel-all a few minutes ahead while the bot runs."""
    account = runner.bot.account
    if not account.dead_mans_switch_enabled:
        return
    at_ms = await runner.client.arm_dead_mans_switch(DEAD_MANS_SWITCH_S)
    until = datetime.fromtimestamp(at_ms / 1000, tz=UTC)
    await _account_armed_until(account.pk, until)


async def dead_mans_switch_release(runner: BotRunner) -> None:
    """On a clean stop, abort the scheduled cancel-all unless another bot of the account runs."""
    account = runner.bot.account
    if not account.dead_mans_switch_enabled:
        return
    others = await db(_other_bots_alive)(runner.bot)
    if others:
        return
    await runner.client.abort_dead_mans_switch()
    await _account_armed_until(account.pk, None)


def _other_bots_alive(bot: GridBot) -> bool:
    alive = Q(status__in=[BotStatus.RUNNING, BotStatus.PAUSED, BotStatus.STARTING])
    return GridBot.objects.filter(alive, account_id=bot.account_id).exclude(pk=bot.pk).exists()


async def _account_armed_until(account_id: int, until: datetime | None) -> None:
    def write() -> None:
        ExchangeAccount.objects.filter(pk=account_id).update(dead_mans_switch_armed_until=until)

    await db(write)()
