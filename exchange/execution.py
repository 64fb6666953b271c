"""Verified execution: resolve tickets from the exchange's reports, reconcile, close positions.

Nothing is reported as done on a sendTx 200. A ticket resolves from order reports (the account
stream feeds `client.tickets`; REST `accountOrders` by client index and `tx?by=hash` fill in),
or becomes `unknown` after its timeout, which `reconcile` can resolve later. Closing a position
is judged by the account's position afterwards, not by any reply. No SDK here: `ExecutionApi`
works over the client's read and write parts.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from exchange.errors import ExchangeError, PermanentError
from exchange.reads import ReadApi
from exchange.stream_events import OrderUpdate
from exchange.tickets import Ticket, TicketBook, TicketState
from exchange.trading import TradingApi
from exchange.types import (
    OrderSide,
    PositionInfo,
    PositionSide,
)

logger = logging.getLogger(__name__)

POLL_FIRST_S = 0.02
POLL_MAX_S = 1.0


class CloseStatus(StrEnum):
    """Outcome of a verified close."""

    CLOSED = "closed"
    PARTIAL = "partially_closed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CloseResult:
    """What a close achieved, judged from the account's position after each attempt."""

    status: CloseStatus
    market_id: int
    symbol: str
    initial_size: Decimal
    remaining_size: Decimal
    attempts: int
    reason: str = ""
    tickets: tuple[Ticket, ...] = ()

    @property
    def closed_size(self) -> Decimal:
        """How much of the position was closed."""
        return self.initial_size - self.remaining_size


class ExecutionApi:
    """Ticket resolution and verified closing for one account.

    Reads (`ReadApi`) answer what the exchange knows; writes (`TradingApi`) send the cancels and
    closing orders; `tickets` is the book both this and the writes keep.
    """

    def __init__(
        self,
        reads: ReadApi,
        trading: TradingApi,
        tickets: TicketBook,
        *,
        poll_first_s: float = POLL_FIRST_S,
        poll_max_s: float = POLL_MAX_S,
    ) -> None:
        self._reads = reads
        self._trading = trading
        self.tickets = tickets
        # REST poll cadence while no stream feeds the tickets (slower on standard tier, where
        # every poll is one of 60 requests a minute).
        self.poll_first_s = poll_first_s
        self.poll_max_s = poll_max_s
        # True once an account stream feeds `tickets`: then REST is only the fallback at timeout.
        self.stream_feeds_tickets = False

    def apply_event(self, event: object) -> None:
        """Feed one account-stream event to the tickets (call it for every event you read).

        Order reports resolve waiting tickets at once; `resolve` then needs REST only at its
        timeout. After a `Reconnected` event call `reconcile_pending()`: reports sent while the
        connection was down are not replayed.
        """
        if isinstance(event, OrderUpdate):
            self.stream_feeds_tickets = True
            for order in event.orders:
                self.tickets.apply_order(order)

    async def reconcile_pending(self) -> list[Ticket]:
        """Refresh every unfinished ticket over REST (after a reconnect); returns them."""
        return [await self.refresh_ticket(t) for t in self.tickets.pending()]

    async def refresh_ticket(self, ticket: Ticket) -> Ticket:
        """Ask REST once: the order by client index, else the transaction by hash."""
        if self.tickets.get(ticket.client_order_index) is None:
            self.tickets.track(ticket)
        orders = [
            o
            for o in await self._reads.orders_by_client_index([ticket.client_order_index])
            if o.market_id == ticket.market_id
        ]
        if orders:
            latest = max(orders, key=lambda o: (o.updated_at_ms, o.timestamp_ms))
            updated = self.tickets.apply_order(latest)
        elif ticket.tx_hash:
            result = await self._reads.tx(ticket.tx_hash)
            updated = (
                None if result is None else self.tickets.apply_tx(ticket.client_order_index, result)
            )
        else:
            updated = None
        return updated or self.tickets.get(ticket.client_order_index) or ticket

    async def resolve(
        self, ticket: Ticket, timeout_s: float = 5.0, *, final: bool = False
    ) -> Ticket:
        """Wait until the exchange says what became of the order, or `unknown` at the timeout.

        With `final=True` a resting order is not enough: wait until filled or cancelled (for
        IOC and market orders, which never rest).
        """
        if self.tickets.get(ticket.client_order_index) is None:
            self.tickets.track(ticket)
        deadline = time.monotonic() + timeout_s
        pause = self.poll_first_s
        while True:
            current = self.tickets.get(ticket.client_order_index) or ticket
            if _done(current, final):
                return current
            if not self.stream_feeds_tickets:
                current = await self.refresh_ticket(current)
                if _done(current, final):
                    return current
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if self.stream_feeds_tickets:
                    current = await self.refresh_ticket(current)
                    if _done(current, final):
                        return current
                return self._give_up(current)
            # Wakes early when the stream reports; otherwise it is the REST poll interval.
            await self.tickets.wait_changed(ticket.client_order_index, min(pause, remaining))
            pause = min(pause * 2, self.poll_max_s)

    def _give_up(self, ticket: Ticket) -> Ticket:
        if ticket.state in (TicketState.SUBMITTED, TicketState.UNKNOWN):
            logger.warning(
                "order %s on market %s: no report before the timeout (tx %s), state unknown",
                ticket.client_order_index,
                ticket.market_id,
                ticket.tx_hash,
            )
            unknown = ticket.timed_out()
            self.tickets.track(unknown)
            return unknown
        return ticket

    async def reconcile(self, ticket: Ticket) -> Ticket:
        """Resolve an `unknown` ticket from REST: the order by client index, then the tx.

        When the exchange knows neither the order nor the transaction, the order was never
        executed: the ticket becomes rejected with that reason.
        """
        current = await self.refresh_ticket(ticket)
        if current.state not in (TicketState.SUBMITTED, TicketState.UNKNOWN):
            return current
        result = await self._reads.tx(current.tx_hash) if current.tx_hash else None
        if result is None or result.failed:
            reason = result.error if result and result.error else "never executed by the exchange"
            current = dataclasses.replace(current, state=TicketState.REJECTED, reason=reason)
            self.tickets.track(current)
            logger.info("order %s reconciled: %s", current.client_order_index, reason)
        return current

    async def cancel_verified(
        self, market: int | str, client_order_index: int, timeout_s: float = 5.0
    ) -> Ticket:
        """Cancel an order and wait for the exchange to confirm what became of it.

        Usually the ticket ends rejected with reason "canceled"; if a fill beat the cancel
        (a real race on a live book) it ends filled or partially filled instead.
        """
        info = await self._reads.market(market)
        ticket = self.tickets.get(client_order_index)
        if ticket is None:
            order = await self._reads.order_status(client_order_index=client_order_index)
            if order is None:
                raise ExchangeError(f"order {client_order_index} is unknown to the exchange")
            ticket = Ticket(
                client_order_index=client_order_index,
                market_id=order.market_id,
                side=order.side,
                price=order.price,
                size=order.initial_size,
                tx_hash="",
            )
            self.tickets.track(ticket)
            ticket = self.tickets.apply_order(order) or ticket
        if ticket.is_final:
            return ticket
        await self._trading.cancel_order(info.market_id, client_order_index)
        return await self.resolve(ticket, timeout_s, final=True)

    async def close_position(
        self,
        market: int | str,
        client_order_indexes: Iterable[int],
        *,
        max_slippage: Decimal = Decimal("0.005"),
        widen_by: Decimal = Decimal("0.01"),
        max_slippage_cap: Decimal = Decimal("0.05"),
        attempts: int = 3,
        timeout_s: float = 5.0,
        size: Decimal | None = None,
        position_side: PositionSide | None = None,
    ) -> CloseResult:
        """Close a position with reduce-only market orders and verify it from the account.

        Each attempt that leaves a remainder is retried with a protection price `widen_by`
        wider, never beyond `max_slippage_cap`. Reports closed, partially closed (with the
        remainder) or failed (with the exchange's reason).

        `size` and `position_side`: close only that much of a position on that side (a bot's
        own part of the account's position; the rest is others' and stays). A position on the
        other side cannot be reduced by it: failed, with the reason.
        """
        info = await self._reads.market(market)
        position = (await self._reads.account()).position(info.market_id)
        if position is None or position.size == 0:
            return CloseResult(
                CloseStatus.CLOSED,
                info.market_id,
                info.symbol,
                Decimal(0),
                Decimal(0),
                0,
                "no position",
            )
        if position_side is not None and position.side is not position_side:
            reason = f"the account's position is {position.side.value}, not {position_side.value}"
            return CloseResult(
                CloseStatus.FAILED, info.market_id, info.symbol, Decimal(0), Decimal(0), 0, reason
            )
        initial = remaining = position.size if size is None else min(size, position.size)
        kept = position.size - initial  # not ours to close: it stays open
        side = OrderSide.SELL if position.side is PositionSide.LONG else OrderSide.BUY
        ids = iter(client_order_indexes)
        slippage = max_slippage
        reason = ""
        tickets: list[Ticket] = []
        attempt = 0
        for attempt in range(1, attempts + 1):
            try:
                ticket = await self._trading.market_order(
                    info.market_id,
                    side,
                    remaining,
                    next(ids),
                    max_slippage=slippage,
                    reduce_only=True,
                )
            except PermanentError as exc:  # transient ones outlived the retries: they propagate
                reason = str(exc)
                break
            ticket = await self.resolve(ticket, timeout_s, final=True)
            if ticket.state is TicketState.UNKNOWN:
                ticket = await self.reconcile(ticket)
            tickets.append(ticket)
            if ticket.reason:
                reason = ticket.reason
            after = (await self._reads.account()).position(info.market_id)
            remaining = max(_remaining(after, position.side) - kept, Decimal(0))
            logger.info(
                "close %s attempt %d at %s slippage: ticket %s, remaining %s",
                info.symbol,
                attempt,
                slippage,
                ticket.state,
                remaining,
            )
            if remaining == 0:
                return CloseResult(
                    CloseStatus.CLOSED,
                    info.market_id,
                    info.symbol,
                    initial,
                    Decimal(0),
                    attempt,
                    "",
                    tuple(tickets),
                )
            slippage = min(slippage + widen_by, max_slippage_cap)
        status = CloseStatus.PARTIAL if remaining < initial else CloseStatus.FAILED
        return CloseResult(
            status,
            info.market_id,
            info.symbol,
            initial,
            remaining,
            attempt,
            reason or "position unchanged",
            tuple(tickets),
        )


def _done(ticket: Ticket, final: bool) -> bool:
    return ticket.is_final if final else ticket.is_resolved


def _remaining(position: PositionInfo | None, original_side: PositionSide) -> Decimal:
    # Reduce-only orders cannot flip a position, so another side means "closed".
    if position is None or position.side is not original_side:
        return Decimal(0)
    return position.size
