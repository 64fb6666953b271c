"""The hedge strategy's market orders: at most one in flight, and the retries of a hedge.

One at a time, on either leg, so the reports of a leg with a market order in flight are that
order's: its client index comes with `OrderSent` (or, without it, from its first report), and
the reports of orders given up on (no report within `hedge_timeout_ms`) are told apart by the
indices kept in `done`; those may still execute, so they stay `unsettled` until reported. A
hedge that ends short is retried after a backoff that doubles up to a cap, at most
`max_attempts` sends; then it is `exhausted` and the strategy repairs instead.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from bots.strategies.grid.config import Side
from bots.strategies.protocol import Leg

from .config import RetryPolicy
from .state import InFlight, Purpose

_DONE_KEPT = 64


@dataclass
class MarketOrders:
    """The market order in flight and the retry state of the hedge being sent."""

    inflight: InFlight | None = None
    failures: int = 0  # failed sends of the current hedge (or repair)
    exhausted: bool = False
    next_send_ms: int = 0
    # Client indices of orders resolved or given up on: their late reports are not in flight.
    done: deque[int] = field(default_factory=lambda: deque(maxlen=_DONE_KEPT))
    # Orders given up on (index known) with no final report yet: they may still execute, so the
    # bot does not finish while any is left. Index -> size that may still fill.
    unsettled: dict[int, Decimal] = field(default_factory=dict)

    def may_send(self, now_ms: int) -> bool:
        """Nothing in flight and no backoff running."""
        return self.inflight is None and now_ms >= self.next_send_ms

    def send(self, leg: Leg, side: Side, size_base: Decimal, now_ms: int, why: Purpose) -> None:
        """A market order is asked for: it is in flight from now."""
        self.inflight = InFlight(leg, side, size_base, now_ms, why)

    def sent(self, leg: Leg, client_order_index: int) -> None:
        """The runner sent the order in flight under `client_order_index`."""
        flight = self.inflight
        if flight is not None and flight.leg == leg and flight.client_order_index is None:
            flight.client_order_index, flight.index_told = client_order_index, True

    def owns(self, leg: Leg, index: int | None) -> bool:
        """Whether a report of `leg` with this client index is the order in flight's."""
        flight = self.inflight
        if flight is None or flight.leg != leg or (index is not None and index in self.done):
            return False
        return flight.client_order_index is None or flight.client_order_index == index

    def fill(self, index: int | None, size_base: Decimal) -> bool:
        """A fill of the order in flight; True when it is filled in full."""
        flight = self.inflight
        assert flight is not None
        if flight.client_order_index is None:
            flight.client_order_index = index
        flight.filled_base += size_base
        return flight.filled_base >= flight.size_base

    def timed_out(self, now_ms: int, timeout_ms: int) -> bool:
        """Whether the order in flight has had no final report for `timeout_ms`."""
        flight = self.inflight
        return flight is not None and now_ms - flight.sent_ms >= timeout_ms

    def resolve(self, index: int | None = None, *, given_up: bool = False) -> InFlight:
        """The order in flight is done (filled, ended, or given up on): no longer in flight.
        One given up on whose index was told stays `unsettled` until its fate is reported."""
        flight = self.inflight
        assert flight is not None
        self.inflight = None
        known = flight.client_order_index if flight.client_order_index is not None else index
        if known is not None:
            self.done.append(known)
            if given_up and flight.index_told:
                self.unsettled[known] = flight.size_base - flight.filled_base
                while len(self.unsettled) > _DONE_KEPT:
                    del self.unsettled[next(iter(self.unsettled))]
        return flight

    def settled(self, index: int | None, filled_base: Decimal | None = None) -> None:
        """A report of an order given up on: an end, or a fill (which settles it once the
        whole order has filled)."""
        if index is None or index not in self.unsettled:
            return
        left = self.unsettled[index] - (filled_base or Decimal(0))
        if filled_base is None or left <= 0:
            del self.unsettled[index]
        else:
            self.unsettled[index] = left

    def failed(self, now_ms: int, policy: RetryPolicy) -> int | None:
        """One more failed send: the backoff before the next (ms), or None when the attempts
        are used up (`exhausted`)."""
        self.failures += 1
        if self.failures >= policy.max_attempts:
            self.exhausted = True
            return None
        delay = policy.delay_ms(self.failures)
        self.next_send_ms = now_ms + delay
        return delay

    def reset(self, now_ms: int | None = None) -> None:
        """A fresh start of attempts (a hedge completed, a repair began or succeeded)."""
        self.failures, self.exhausted = 0, False
        if now_ms is not None:
            self.next_send_ms = now_ms
