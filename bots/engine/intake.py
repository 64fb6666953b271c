"""A burst of stream events applied to a runner: first in memory, then in one transaction.

The runner's loop takes every queued event in one go (`take_in`): order reports take filled and
ended orders out of the live set and move the grid to a filled level, fills of our orders are
booked in the runner's ledger and move the position, positions and book freshness are noted.
That is all the plan needs, so the replenish order goes out next, and only then is the burst
recorded (`record`): order reports, fills and funding in one fenced transaction.

Memory never gets ahead of the exchange here, only of our database: a crash between the send
and the record is what startup recovery repairs (missed fills, adopted orders). The database
stays the backstop: a fill it records that memory did not book (an order the runner did not
know) still moves the position and the grid when the transaction returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bots.engine import reports
from bots.engine.db_thread import db
from bots.engine.recovery import signed_size
from bots.models import EventLevel, Order
from bots.strategies.grid import LiveOrder, Side
from bots.strategies.orders import is_active
from exchange.streams import (
    BookUpdate,
    FillEvent,
    FundingUpdate,
    OrderUpdate,
    PositionUpdate,
    Reconnected,
    StreamEvent,
)
from exchange.types import FillInfo, FundingPayment, OrderInfo

if TYPE_CHECKING:
    from bots.engine.runner import BotRunner


@dataclass
class Burst:
    """What a burst of events leaves to record, and the trades already booked in memory."""

    orders: list[OrderInfo] = field(default_factory=list)
    fills: list[FillInfo] = field(default_factory=list)
    payments: list[FundingPayment] = field(default_factory=list)
    booked: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.orders or self.fills or self.payments)


def take_in(runner: BotRunner, events: list[StreamEvent]) -> Burst:
    """Apply `events` to the runner's memory (no I/O); returns what is left to record."""
    burst = Burst()
    for event in events:
        runner.client.apply_event(event)
        if isinstance(event, BookUpdate) and event.market_id == runner.market_id:
            runner.book_fresh = True
        elif isinstance(event, OrderUpdate):
            # another bot's market on the same account: nothing to do, nothing to record
            ours = [o for o in event.orders if o.market_id == runner.market_id]
            burst.orders += ours
            for info in ours:
                _order_report(runner, info)
        elif isinstance(event, FillEvent):
            fills = [f for f in event.fills if f.market_id == runner.market_id]
            burst.fills += fills
            burst.booked.update(_book_fills(runner, fills))
        elif isinstance(event, PositionUpdate):
            for position in event.positions:
                if position.market_id == runner.market_id:
                    runner.position = signed_size(position)
        elif isinstance(event, FundingUpdate):
            burst.payments += event.payments
        elif isinstance(event, Reconnected):
            runner.reconcile_due = True
    return burst


async def record(runner: BotRunner, burst: Burst) -> None:
    """Record the batches sent since the last record and a burst in one transaction, then align
    memory with what the database says."""
    if not burst and not runner.sent:
        return
    sent, runner.sent = runner.sent, []
    changed, new = await db(reports.burst_record)(
        runner.bot, runner.fence, burst.orders, burst.fills, burst.payments, runner.ledger, sent
    )
    await _note_unexpected_ends(runner, changed)
    runner.track(changed)
    await runner.apply_new_fills([f for f in new if f.trade_id not in burst.booked])


def _order_report(runner: BotRunner, info: OrderInfo) -> None:
    index = info.client_order_index
    live = runner.live.get(index)
    if live is None:
        return
    if info.filled_size > runner.filled.get(index, 0) and live.level is not None:
        # The order report often beats its fill report: move the grid now, or the next plan
        # would put the same order back at the level that just traded.
        runner.move_to_fill(live.side, live.level)
    runner.filled[index] = info.filled_size
    if not is_active(reports.status_of(info)):
        runner.forget(index, live)


def _book_fills(runner: BotRunner, fills: list[FillInfo]) -> list[int]:
    """Book fills of orders the runner knows, once each (the ledger remembers trade ids)."""
    booked: list[int] = []
    for info in sorted(fills, key=lambda f: (f.timestamp_ms, f.trade_id)):
        owner: LiveOrder | None = runner.live.get(info.client_order_index)
        owner = owner or runner.ended.get(info.client_order_index)
        if owner is None or runner.ledger.has_fill(info.trade_id):
            continue
        runner.ledger.apply_fill(reports.ledger_fill(info, owner.level))
        runner.fill_applied(Side(str(info.side)), info.size, owner.level)
        booked.append(info.trade_id)
    return booked


async def _note_unexpected_ends(runner: BotRunner, rows: list[Order]) -> None:
    for row in rows:
        ended = row.status in ("canceled", "rejected")
        if ended and row.client_order_index not in runner.cancelling:
            await runner.event(
                "order_missing",
                f"{row.side} level {row.level_index} @ {row.price} ended: {row.reason}",
                EventLevel.WARNING,
                client_order_index=row.client_order_index,
                reason=row.reason,
            )
