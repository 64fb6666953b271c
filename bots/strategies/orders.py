"""The order-state model: one transition table, one `transition()`, one definition of "active".

Every change of an order's status anywhere in LighterWeb (recording intents, sends, refusals,
exchange reports, reconcile) goes through `transition(status, event)`; an impossible edge raises
`OrderTransitionError`, so a bug or a stale report can never move an order somewhere it cannot
be. The recording code catches that error only where a late report is expected (see
`bots.engine.reports`) and keeps the row as it is.

Pure: no Django, no I/O. The values equal `bots.models.OrderStatus` (a test checks it).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum


class OrderStatus(StrEnum):
    """Where one of our orders stands (design decision 2: 200 is not executed)."""

    INTENT = "intent"  # persisted, not sent yet
    PENDING = "pending"  # accepted by the exchange, no report yet
    OPEN = "open"  # resting on the book, nothing filled
    PARTIALLY_FILLED = "partially_filled"  # resting, part filled
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"  # refused, or never executed
    UNKNOWN = "unknown"  # no report in time: to reconcile


class OrderEvent(StrEnum):
    """What happened to an order."""

    SENT = "sent"  # the exchange accepted the transaction (not executed yet)
    REFUSED = "refused"  # the exchange refused the transaction outright (HTTP 400)
    RESTING = "resting"  # reported open, nothing filled
    PARTIAL_FILL = "partial_fill"  # reported open with some size filled
    FILLED = "filled"  # reported filled
    CANCELED = "canceled"  # reported cancelled (by us, post-only, margin, expiry ...)
    REJECTED = "rejected"  # reported rejected, or the exchange has no record of it
    TIMED_OUT = "timed_out"  # no report within the resolve timeout


class OrderTransitionError(ValueError):
    """An impossible edge of the order-state table."""


S, E = OrderStatus, OrderEvent

# Statuses in which an order may still rest on the book (or might, until reconciled).
ACTIVE: frozenset[OrderStatus] = frozenset(
    {S.INTENT, S.PENDING, S.OPEN, S.PARTIALLY_FILLED, S.UNKNOWN}
)

# What any status that may still be working goes to on an exchange report.
_REPORTED: dict[OrderEvent, OrderStatus] = {
    E.RESTING: S.OPEN,
    E.PARTIAL_FILL: S.PARTIALLY_FILLED,
    E.FILLED: S.FILLED,
    E.CANCELED: S.CANCELED,
    E.REJECTED: S.REJECTED,
}

TRANSITIONS: dict[tuple[OrderStatus, OrderEvent], OrderStatus] = {
    # Persisted, then sent or refused; a fast stream report may even beat the send's record.
    **{(S.INTENT, event): status for event, status in _REPORTED.items()},
    (S.INTENT, E.SENT): S.PENDING,
    (S.INTENT, E.REFUSED): S.REJECTED,
    (S.INTENT, E.TIMED_OUT): S.UNKNOWN,
    **{(S.PENDING, event): status for event, status in _REPORTED.items()},
    (S.PENDING, E.SENT): S.PENDING,
    (S.PENDING, E.TIMED_OUT): S.UNKNOWN,
    # The send is recorded after the stream already reported the order: the report wins.
    **{(S.OPEN, event): status for event, status in _REPORTED.items()},
    (S.OPEN, E.SENT): S.OPEN,
    **{(S.PARTIALLY_FILLED, event): status for event, status in _REPORTED.items()},
    (S.PARTIALLY_FILLED, E.SENT): S.PARTIALLY_FILLED,
    # A stale "open" report after a partial fill: filled size never goes back.
    (S.PARTIALLY_FILLED, E.RESTING): S.PARTIALLY_FILLED,
    **{(S.UNKNOWN, event): status for event, status in _REPORTED.items()},
    (S.UNKNOWN, E.SENT): S.UNKNOWN,
    (S.UNKNOWN, E.TIMED_OUT): S.UNKNOWN,
    # Terminal: only the same report again (a repeat) is an edge.
    (S.FILLED, E.FILLED): S.FILLED,
    (S.CANCELED, E.CANCELED): S.CANCELED,
    # Rejected is terminal except for one race: a row resolved "never executed" after a timeout
    # that the exchange reports later did execute after all, and its report is the truth.
    **{(S.REJECTED, event): status for event, status in _REPORTED.items()},
    (S.REJECTED, E.REFUSED): S.REJECTED,
}


def transition(status: str, event: str) -> OrderStatus:
    """The status an order in `status` moves to on `event`; raises on an impossible edge."""
    try:
        return TRANSITIONS[(OrderStatus(status), OrderEvent(event))]
    except (KeyError, ValueError) as exc:
        raise OrderTransitionError(f"order in {status!r} cannot take {event!r}") from exc


def is_active(status: str) -> bool:
    """Whether an order in `status` may still rest on the book (or might, until reconciled)."""
    return status in ACTIVE


def report_event(exchange_status: str, is_active: bool, filled_size: Decimal) -> OrderEvent:
    """The event an exchange order report is (Lighter's status strings: lighter-api.md)."""
    if exchange_status == "filled":
        return OrderEvent.FILLED
    if is_active:
        return OrderEvent.PARTIAL_FILL if filled_size > 0 else OrderEvent.RESTING
    if exchange_status.startswith("canceled"):
        return OrderEvent.CANCELED
    return OrderEvent.REJECTED
