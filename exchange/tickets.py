"""Order tickets: what became of a submission, from the exchange's own reports (no SDK, no I/O).

A sendTx 200 only means "accepted". A ticket starts `submitted` and moves, on order reports
(stream or REST) and transaction results, through a transition table to resting, partially
filled, filled, rejected (with Lighter's status string or the tx error), or unknown after a
timeout — which a later reconcile can still resolve. The book forgets a ticket's event once its
order ends and keeps only a bounded number of ended tickets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from exchange.types import OrderInfo, OrderSide, TxResult

# Ended tickets kept so a late report (REST lagging the stream) or a caller's `get` still finds
# them; early reports kept until their ticket is tracked (the race is one sendTx long). Both at
# most this many, for at most `KEPT_S` seconds: a report later than that changes nothing, and
# a worker's books full to the count were 2,000 objects a bot for its garbage collector to walk
# (a full collection 32 ms longer at 50 bots, docs/benchmarks.md).
ENDED_TICKETS_KEPT = 1_000
EARLY_REPORTS_KEPT = 1_000
KEPT_S = 60.0


class TicketState(StrEnum):
    """Where a submitted order stands, as far as the exchange has told us."""

    SUBMITTED = "submitted"
    RESTING = "resting"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


class TicketEvent(StrEnum):
    """What an exchange report says happened to the order."""

    OPEN = "open"
    PARTIAL_OPEN = "partial_open"
    FILLED = "filled"
    CANCELLED = "cancelled"
    PARTIAL_CANCELLED = "partial_cancelled"
    TX_FAILED = "tx_failed"
    TIMEOUT = "timeout"


S, E = TicketState, TicketEvent
# A report can arrive after a later one (REST lagging the stream), so a resting order seeing
# "open" again is allowed; a terminal state never goes back to an open one.
TRANSITIONS: dict[tuple[TicketState, TicketEvent], TicketState] = {
    (S.SUBMITTED, E.OPEN): S.RESTING,
    (S.SUBMITTED, E.PARTIAL_OPEN): S.PARTIALLY_FILLED,
    (S.SUBMITTED, E.FILLED): S.FILLED,
    (S.SUBMITTED, E.CANCELLED): S.REJECTED,
    (S.SUBMITTED, E.PARTIAL_CANCELLED): S.PARTIALLY_FILLED,
    (S.SUBMITTED, E.TX_FAILED): S.REJECTED,
    (S.SUBMITTED, E.TIMEOUT): S.UNKNOWN,
    (S.RESTING, E.OPEN): S.RESTING,
    (S.RESTING, E.PARTIAL_OPEN): S.PARTIALLY_FILLED,
    (S.RESTING, E.FILLED): S.FILLED,
    (S.RESTING, E.CANCELLED): S.REJECTED,
    (S.RESTING, E.PARTIAL_CANCELLED): S.PARTIALLY_FILLED,
    (S.RESTING, E.TIMEOUT): S.RESTING,
    (S.PARTIALLY_FILLED, E.PARTIAL_OPEN): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.OPEN): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.FILLED): S.FILLED,
    (S.PARTIALLY_FILLED, E.PARTIAL_CANCELLED): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.CANCELLED): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.TIMEOUT): S.PARTIALLY_FILLED,
    (S.FILLED, E.FILLED): S.FILLED,
    (S.FILLED, E.TIMEOUT): S.FILLED,
    (S.REJECTED, E.CANCELLED): S.REJECTED,
    (S.REJECTED, E.TX_FAILED): S.REJECTED,
    (S.REJECTED, E.TIMEOUT): S.REJECTED,
    (S.UNKNOWN, E.OPEN): S.RESTING,
    (S.UNKNOWN, E.PARTIAL_OPEN): S.PARTIALLY_FILLED,
    (S.UNKNOWN, E.FILLED): S.FILLED,
    (S.UNKNOWN, E.CANCELLED): S.REJECTED,
    (S.UNKNOWN, E.PARTIAL_CANCELLED): S.PARTIALLY_FILLED,
    (S.UNKNOWN, E.TX_FAILED): S.REJECTED,
    (S.UNKNOWN, E.TIMEOUT): S.UNKNOWN,
}
del S, E


class TicketTransitionError(ValueError):
    """An exchange report that contradicts what the ticket already knows."""


def transition(state: TicketState, event: TicketEvent) -> TicketState:
    """The state after `event`; raises `TicketTransitionError` on an impossible edge."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise TicketTransitionError(f"{event} is impossible in state {state}") from None


def event_for_order(order: OrderInfo) -> TicketEvent:
    """Classify an order report."""
    partly = order.filled_size > 0
    if order.status == "filled":
        return TicketEvent.FILLED
    if order.is_active:
        return TicketEvent.PARTIAL_OPEN if partly else TicketEvent.OPEN
    return TicketEvent.PARTIAL_CANCELLED if partly else TicketEvent.CANCELLED


@dataclass(frozen=True, slots=True)
class Ticket:
    """A submission and what the exchange reported about it."""

    client_order_index: int
    market_id: int
    side: OrderSide
    price: Decimal
    size: Decimal
    tx_hash: str
    state: TicketState = TicketState.SUBMITTED
    reason: str = ""
    order_index: int | None = None
    filled_size: Decimal = Decimal(0)
    filled_quote: Decimal = Decimal(0)
    submitted_at: float = dataclasses.field(default_factory=time.monotonic)

    @property
    def is_final(self) -> bool:
        """True when nothing more will happen to the order (filled, or cancelled/rejected)."""
        if self.state in (TicketState.FILLED, TicketState.REJECTED):
            return True
        return self.state is TicketState.PARTIALLY_FILLED and bool(self.reason)

    @property
    def is_resolved(self) -> bool:
        """True once the exchange said anything beyond "accepted" (resting counts)."""
        return self.state not in (TicketState.SUBMITTED, TicketState.UNKNOWN)

    @property
    def fill_ratio(self) -> Decimal:
        """Filled share of the requested size, 0..1."""
        return self.filled_size / self.size if self.size else Decimal(0)

    @property
    def average_price(self) -> Decimal | None:
        """Average fill price, None before any fill."""
        return self.filled_quote / self.filled_size if self.filled_size else None

    def with_order(self, order: OrderInfo) -> Ticket:
        """The ticket after an order report (stream or REST)."""
        event = event_for_order(order)
        state = transition(self.state, event)
        terminal = event in (TicketEvent.CANCELLED, TicketEvent.PARTIAL_CANCELLED)
        return dataclasses.replace(
            self,
            state=state,
            reason=order.status if terminal else self.reason,
            order_index=order.order_index or self.order_index,
            filled_size=max(self.filled_size, order.filled_size),
            filled_quote=max(self.filled_quote, order.filled_quote),
        )

    def with_tx(self, result: TxResult) -> Ticket:
        """The ticket after the transaction's own result; only a failure changes it."""
        if not result.failed:
            return self
        reason = result.error or "transaction failed"
        return dataclasses.replace(
            self, state=transition(self.state, TicketEvent.TX_FAILED), reason=reason
        )

    def timed_out(self) -> Ticket:
        """The ticket when no report arrived in time (unknown until reconciled)."""
        return dataclasses.replace(self, state=transition(self.state, TicketEvent.TIMEOUT))


@dataclass(frozen=True, slots=True)
class TicketBookSize:
    """What a `TicketBook` holds: open tickets, their events, recently ended ones, early reports."""

    open: int
    events: int
    ended: int
    early_reports: int


class TicketBook:
    """Tickets awaiting resolution, fed by order reports from any source.

    Waiters are woken on every report, so a caller can wait on an event with a timeout instead
    of polling. One book per client (account); keyed by client order index.

    Only open tickets keep an event: a ticket whose order ended (filled, cancelled, rejected)
    wakes its waiters and moves to a bounded most-recently-ended list, where `get` still finds it
    and a late report still folds in; the oldest ended ones are forgotten, and any ended more
    than `kept_s` ago. So the book holds the account's live orders plus at most a fixed number,
    however many orders a long run places, and a quiet bot's book only its live orders.
    """

    def __init__(
        self,
        *,
        ended_kept: int = ENDED_TICKETS_KEPT,
        early_reports_kept: int = EARLY_REPORTS_KEPT,
        kept_s: float = KEPT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open: dict[int, Ticket] = {}
        self._changed: dict[int, asyncio.Event] = {}
        self._ended: dict[int, Ticket] = {}
        self._ended_kept = ended_kept
        # Race: with no latency the stream reports an order before sendTx even replies, i.e.
        # before its ticket exists. Such reports wait here (bounded) for `track`.
        self._early: dict[int, OrderInfo] = {}
        self._early_kept = early_reports_kept
        # When each ended ticket and early report came, the oldest first: the order that decides
        # what is forgotten lives only here, in numbers the garbage collector does not walk.
        self._ended_at: OrderedDict[int, float] = OrderedDict()
        self._early_at: OrderedDict[int, float] = OrderedDict()
        self._kept_s = kept_s
        self._clock = clock

    def size(self) -> TicketBookSize:
        """How many tickets, events and reports the book holds now."""
        return TicketBookSize(
            open=len(self._open),
            events=len(self._changed),
            ended=len(self._ended),
            early_reports=len(self._early),
        )

    def track(self, ticket: Ticket) -> None:
        """Start following `ticket` (folding in any report that arrived before it)."""
        index = ticket.client_order_index
        if ticket.is_final:
            self._end(ticket)
        else:
            _drop(self._ended, self._ended_at, index)
            self._open[index] = ticket
            self._changed.setdefault(index, asyncio.Event())
        early = _drop(self._early, self._early_at, index)
        if early is not None:
            self.apply_order(early)

    def get(self, client_order_index: int) -> Ticket | None:
        """The latest known ticket for a client order index (open or recently ended)."""
        ticket = self._open.get(client_order_index)
        return ticket if ticket is not None else self._ended.get(client_order_index)

    def pending(self) -> list[Ticket]:
        """Tickets whose outcome is not final yet (to reconcile after a reconnect)."""
        return list(self._open.values())

    def forget(self, client_order_index: int) -> None:
        """Stop following a ticket (after the caller has its final state)."""
        self._open.pop(client_order_index, None)
        self._changed.pop(client_order_index, None)
        _drop(self._ended, self._ended_at, client_order_index)

    def apply_order(self, order: OrderInfo) -> Ticket | None:
        """Fold an order report into its ticket, if we follow it."""
        ticket = self.get(order.client_order_index)
        if ticket is None:
            if order.client_order_index:
                now = self._clock()
                _keep(self._early, self._early_at, order.client_order_index, order, now)
                self._expire(self._early, self._early_at, self._early_kept, now)
            return None
        if ticket.market_id != order.market_id:
            return None
        try:
            updated = ticket.with_order(order)
        except TicketTransitionError:
            # A late report of an older state (e.g. REST lagging the stream): keep what we know.
            return ticket
        self._changed_to(updated)
        return updated

    def apply_tx(self, client_order_index: int, result: TxResult) -> Ticket | None:
        """Fold a transaction result into a ticket."""
        ticket = self.get(client_order_index)
        if ticket is None:
            return None
        try:
            updated = ticket.with_tx(result)
        except TicketTransitionError:
            return ticket
        self._changed_to(updated)
        return updated

    def _changed_to(self, ticket: Ticket) -> None:
        if ticket.is_final:
            self._end(ticket)
            return
        index = ticket.client_order_index
        # Never in practice: the table keeps an ended ticket final.
        _drop(self._ended, self._ended_at, index)
        self._open[index] = ticket
        self._changed.setdefault(index, asyncio.Event()).set()

    def _end(self, ticket: Ticket) -> None:
        index = ticket.client_order_index
        self._open.pop(index, None)
        event = self._changed.pop(index, None)
        if event is not None:
            event.set()  # waiters hold the event itself: they wake and find the ticket ended
        now = self._clock()
        _keep(self._ended, self._ended_at, index, ticket, now)
        self._expire(self._ended, self._ended_at, self._ended_kept, now)

    def _expire(
        self, kept: dict[int, Any], kept_at: OrderedDict[int, float], most: int, now: float
    ) -> None:
        """Forget the oldest entries beyond `most` and every entry older than `kept_s`."""
        oldest_kept = now - self._kept_s
        while kept_at and (len(kept_at) > most or next(iter(kept_at.values())) < oldest_kept):
            index, _ = kept_at.popitem(last=False)
            kept.pop(index, None)

    async def wait_changed(self, client_order_index: int, timeout_s: float) -> bool:
        """Wait until the ticket changes or `timeout_s` passes; True if it changed.

        An ended ticket has nothing left to wait for: True at once.
        """
        event = self._changed.get(client_order_index)
        if event is None:
            return client_order_index in self._ended
        try:
            async with asyncio.timeout(timeout_s):
                await event.wait()
        except TimeoutError:
            return False
        event.clear()
        return True


def _keep(
    kept: dict[int, Any], kept_at: OrderedDict[int, float], index: int, item: Any, now: float
) -> None:
    """Store `item` in `kept`, stamped `now` as the newest entry."""
    kept[index] = item
    kept_at[index] = now
    kept_at.move_to_end(index)


def _drop(kept: dict[int, Any], kept_at: OrderedDict[int, float], index: int) -> Any:
    """Remove `index` from `kept` and its stamp; returns what was kept, or None."""
    kept_at.pop(index, None)
    return kept.pop(index, None)
