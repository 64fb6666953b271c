"""A burst of stream events applied to a runner: first in memory, then in one transaction.

The runner's loop takes every queued event in one go (`take_in`): order reports take filled and
ended orders out of the working set, fills of our orders are booked in the runner's ledger, and
each becomes a strategy event (an order traded at its level, a fill, a book change, a position).
That is all the strategy needs, so the replenish order goes out next, and only then is the burst
recorded (`record`): order reports, fills and funding in one fenced transaction. A burst that
moves no money and ends no order but by its fill (`Burst.holdable`) may wait for the next one's
transaction (the runner holds it, `EngineOptions.bookkeeping_held_s`). Nothing here knows the
runner: it gets the working orders, the ledger and the leg, and returns the burst.

Memory never gets ahead of the exchange here, only of our database: a crash between the send
and the record is what startup recovery repairs (missed fills, adopted orders). The database
stays the backstop: a fill it records that memory did not book (an order the runner did not
know) still moves the position and the grid when the transaction returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from bots.engine import reports, session_log
from bots.engine.recording import SentBatch
from bots.engine.working import WorkingOrders
from bots.models import Bot, Fill, Order
from bots.strategies import accounting
from bots.strategies.grid import Side
from bots.strategies.orders import OrderStatus, is_active
from bots.strategies.protocol import (
    BookChanged,
    Event,
    Filled,
    Leg,
    OrderTraded,
    PositionSet,
)
from exchange.streams import (
    BookUpdate,
    FillEvent,
    FundingUpdate,
    OrderUpdate,
    PositionUpdate,
    Reconnected,
    StreamEvent,
)
from exchange.types import FillInfo, FundingPayment, OrderInfo, PositionInfo, PositionSide


@dataclass
class Burst:
    """What a burst of events leaves to record, what it tells the strategy, and whether it
    calls for a reconcile."""

    orders: list[OrderInfo] = field(default_factory=list)
    fills: list[FillInfo] = field(default_factory=list)
    payments: list[FundingPayment] = field(default_factory=list)
    booked: set[int] = field(default_factory=set)
    events: list[Event] = field(default_factory=list)
    reconcile: bool = False
    # Every order report is routine: a working order acknowledged (resting, nothing filled) or
    # the end of one we cancelled. Neither moves a plan: the order planned as sent, and the
    # cancelled one left the working set when its cancel went out.
    routine: bool = True
    # An order report that ends an order other than by its fill (a cancel, ours or not; a
    # rejection), or of an order we do not work: recorded at once, for the open orders the
    # pages count and the warnings an unasked end raises.
    ends: bool = False
    # An order we work cancelled without our asking (an operator's account-wide cancel, the
    # exchange's post-only or self-trade rule): the runner reads the operator's desired state
    # before it plans (an emergency stop writes it before its cancel goes out, and its pushed
    # command may come after the cancel's reports).
    unasked_cancel: bool = False

    def __bool__(self) -> bool:
        return bool(self.orders or self.fills or self.payments)

    @property
    def concerns_market(self) -> bool:
        """Whether the burst holds anything of the bot's market the strategy plans from (its
        book, its orders, its fills, its position): only then can a plan change. Routine order
        reports cannot (`routine`)."""
        return bool(self.events or self.fills or (self.orders and not self.routine))

    @property
    def holdable(self) -> bool:
        """Whether what it leaves to record moves no money and ends no order: no fill, no
        funding, no `ends` (a filled order's report is held: its fill follows)."""
        return not self.fills and not self.payments and not self.ends

    def after(self, held: Burst | None) -> Burst:
        """This burst with the order reports of an earlier `held` one before its own."""
        if held is None or not held.orders:
            return self
        merged = replace(self)
        merged.orders = [*held.orders, *self.orders]
        return merged


def signed_size(position: PositionInfo) -> Decimal:
    """Position in base units, positive long, negative short."""
    if position.side is PositionSide.SHORT:
        return -abs(position.size)
    if position.side is PositionSide.LONG:
        return abs(position.size)
    return Decimal(0)


def take_in(
    events: Sequence[StreamEvent],
    leg: Leg,
    exchange_market_id: int,
    orders: WorkingOrders,
    ledger: accounting.Ledger,
) -> Burst:
    """Apply `events` to the working orders and the ledger (no I/O); returns what is left to
    record and the strategy events they make, in order."""
    burst = Burst()
    for event in events:
        if isinstance(event, BookUpdate) and event.market_id == exchange_market_id:
            burst.events.append(BookChanged(leg))
        elif isinstance(event, OrderUpdate):
            # another bot's market on the same account: nothing to do, nothing to record
            ours = [o for o in event.orders if o.market_id == exchange_market_id]
            burst.orders += ours
            for info in ours:
                _order_report(burst, leg, orders, info)
        elif isinstance(event, FillEvent):
            fills = [f for f in event.fills if f.market_id == exchange_market_id]
            burst.fills += fills
            _book_fills(burst, leg, orders, ledger, fills)
        elif isinstance(event, PositionUpdate):
            for position in event.positions:
                if position.market_id == exchange_market_id:
                    burst.events.append(PositionSet(leg, signed_size(position)))
        elif isinstance(event, FundingUpdate):
            burst.payments += event.payments
        elif isinstance(event, Reconnected):
            burst.reconcile = True
    return burst


def record(
    bot: Bot,
    fence: int,
    burst: Burst,
    ledger: accounting.Ledger,
    sent: list[SentBatch],
    log: session_log.Pending | None = None,
) -> tuple[list[Order], list[Fill]]:
    """Record the batches sent since the last record, a burst and the core's session log since
    the last record in one transaction (sync: the runner calls it on its DB thread); returns the
    rows that changed and the new fills."""
    return reports.burst_record(
        bot, fence, burst.orders, burst.fills, burst.payments, ledger, sent, log
    )


def _order_report(burst: Burst, leg: Leg, orders: WorkingOrders, info: OrderInfo) -> None:
    index = info.client_order_index
    live = orders.live.get(index)
    status = reports.status_of(info)
    asked_end = status == OrderStatus.CANCELED and index in orders.cancelling
    if live is None or info.filled_size != 0 or not (is_active(status) or asked_end):
        burst.routine = False
    if live is None or not (is_active(status) or status == OrderStatus.FILLED):
        burst.ends = True
    if live is None:
        return
    if status == OrderStatus.CANCELED and not asked_end:
        burst.unasked_cancel = True
    if info.filled_size > orders.filled.get(index, 0) and live.level is not None:
        # The order report often beats its fill report: move the grid now, or the next plan
        # would put the same order back at the level that just traded.
        burst.events.append(OrderTraded(leg, live.side, live.level))
    orders.filled[index] = info.filled_size
    if not is_active(status):
        orders.forget(index)


def _book_fills(
    burst: Burst,
    leg: Leg,
    orders: WorkingOrders,
    ledger: accounting.Ledger,
    fills: list[FillInfo],
) -> None:
    """Book fills of orders we know, once each (the ledger remembers trade ids)."""
    for info in sorted(fills, key=lambda f: (f.timestamp_ms, f.trade_id)):
        owner = orders.owner(info.client_order_index)
        if owner is None or ledger.has_fill(info.trade_id):
            continue
        ledger.apply_fill(reports.ledger_fill(info, owner.level))
        side = Side(str(info.side))
        filled = Filled(leg, side, info.size, owner.level, info.client_order_index, info.price)
        burst.events.append(filled)
        burst.booked.add(info.trade_id)
