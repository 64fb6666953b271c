"""The hedge bot's state machine: one table `(state, event) -> state`, one `transition()`.

The strategy (`bots.strategies.hedge.strategy`) decides *when* an event happens; this table says
*where* it leads, and an edge that is not in it raises `HedgeTransitionError`, so a bug can never
put the bot somewhere it cannot be. Every transition taken is recorded as a `Transition` (with
its reason) for the runner to write as a BotEvent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class HedgeState(StrEnum):
    """Where the pair stands (shown on the dashboard)."""

    IDLE = "idle"  # not started: waiting for both legs' positions and a book
    OPENING = "opening"  # A rests its opening maker order; B is caught up
    HEDGING = "hedging"  # A traded: B's market order is in flight or being retried
    HOLDING = "holding"  # open and hedged: waiting for the hold time
    CLOSING = "closing"  # A rests its reducing maker order; B is caught up
    HEDGING_CLOSE = "hedging_close"  # A's close traded: B's reduce-only order in flight
    COOLDOWN = "cooldown"  # a cycle is done: waiting before the next one
    REPAIRING = "repairing"  # the pair's net is beyond tolerance: A paused, one leg reduced
    ERROR = "error"  # repairs failed: A's orders cancelled, nothing is sent
    STOPPED = "stopped"  # the configured cycles are done, or the stop-loss fired


class HedgeEvent(StrEnum):
    """What moves the machine (decided by the strategy from fills, positions and time)."""

    START = "start"  # both legs' positions and a book are known, the net within tolerance
    HEDGE_DUE = "hedge_due"  # B owes a trade to match A: A filled (or a late B fill overshot)
    A_FILLED = "a_filled"  # A filled more while B was hedging
    HEDGE_RETRY = "hedge_retry"  # a hedge ended short (refused, expired, partial, timed out)
    HEDGED = "hedged"  # B caught up with A
    OPENED = "opened"  # A holds the size (what is left is below the exchange minimum)
    HOLD_OVER = "hold_over"
    CLOSED = "closed"  # A is flat (up to what is below the minimum) and hedged
    LAST_CYCLE = "last_cycle"  # closed, and that was the last configured cycle
    COOLDOWN_OVER = "cooldown_over"
    ORDER_TIMEOUT = "order_timeout"  # A's order rested too long: cancel, re-place when confirmed
    # B's hedge could trade with what rests of A's own order: A's is cancelled first.
    SELF_TRADE_GUARD = "self_trade_guard"
    IMBALANCE = "imbalance"  # the exchange's positions disagree beyond tolerance, at rest
    HEDGE_FAILED = "hedge_failed"  # the hedge's attempts are used up
    REPAIR_PARTIAL = "repair_partial"  # a repair reduced the net, not yet within tolerance
    REPAIR_FAILED = "repair_failed"  # a repair did not reduce the net
    REPAIRED_OPEN = "repaired_open"  # back within tolerance, in the opening half of a cycle
    REPAIRED_CLOSE = "repaired_close"  # back within tolerance, in the closing half
    GIVE_UP = "give_up"  # the repair attempts are used up
    STOP_LOSS = "stop_loss"  # the pair's combined PnL fell to the stop-loss


class HedgeTransitionError(ValueError):
    """An impossible edge of the hedge bot's state machine."""


S, E = HedgeState, HedgeEvent

# States with no hedge under way: an imbalance found there (after the grace) is repaired.
_AT_REST = (S.IDLE, S.OPENING, S.HOLDING, S.CLOSING, S.COOLDOWN)

TRANSITIONS: dict[tuple[HedgeState, HedgeEvent], HedgeState] = {
    (S.IDLE, E.START): S.OPENING,
    # Opening half: A rests, each fill is hedged, and opening resumes until A holds the size.
    (S.OPENING, E.HEDGE_DUE): S.HEDGING,
    (S.OPENING, E.ORDER_TIMEOUT): S.OPENING,
    (S.OPENING, E.OPENED): S.HOLDING,
    (S.HEDGING, E.A_FILLED): S.HEDGING,  # A's order keeps resting and filling meanwhile
    (S.HEDGING, E.ORDER_TIMEOUT): S.HEDGING,
    (S.HEDGING, E.SELF_TRADE_GUARD): S.HEDGING,
    (S.HEDGING, E.HEDGE_RETRY): S.HEDGING,
    (S.HEDGING, E.HEDGED): S.OPENING,
    (S.HEDGING, E.HEDGE_FAILED): S.REPAIRING,
    # A fill reported after the order that made it ended (a cancel crossing a fill).
    (S.HOLDING, E.HEDGE_DUE): S.HEDGING,
    (S.HOLDING, E.HOLD_OVER): S.CLOSING,
    # Closing half, the mirror image; B's orders are reduce-only.
    (S.CLOSING, E.HEDGE_DUE): S.HEDGING_CLOSE,
    (S.CLOSING, E.ORDER_TIMEOUT): S.CLOSING,
    (S.CLOSING, E.CLOSED): S.COOLDOWN,
    (S.CLOSING, E.LAST_CYCLE): S.STOPPED,
    (S.HEDGING_CLOSE, E.A_FILLED): S.HEDGING_CLOSE,
    (S.HEDGING_CLOSE, E.ORDER_TIMEOUT): S.HEDGING_CLOSE,
    (S.HEDGING_CLOSE, E.SELF_TRADE_GUARD): S.HEDGING_CLOSE,
    (S.HEDGING_CLOSE, E.HEDGE_RETRY): S.HEDGING_CLOSE,
    (S.HEDGING_CLOSE, E.HEDGED): S.CLOSING,
    (S.HEDGING_CLOSE, E.HEDGE_FAILED): S.REPAIRING,
    (S.COOLDOWN, E.HEDGE_DUE): S.HEDGING_CLOSE,  # the close's fill reported late, as above
    (S.COOLDOWN, E.COOLDOWN_OVER): S.OPENING,
    # Repair: from rest, or when a hedge cannot be completed.
    **{(state, E.IMBALANCE): S.REPAIRING for state in _AT_REST},
    (S.REPAIRING, E.REPAIR_PARTIAL): S.REPAIRING,
    (S.REPAIRING, E.REPAIR_FAILED): S.REPAIRING,
    (S.REPAIRING, E.REPAIRED_OPEN): S.OPENING,
    (S.REPAIRING, E.REPAIRED_CLOSE): S.CLOSING,
    (S.REPAIRING, E.GIVE_UP): S.ERROR,
    # The stop-loss ends the bot from anywhere but the end (error included: it flattens).
    **{(state, E.STOP_LOSS): S.STOPPED for state in HedgeState if state is not S.STOPPED},
}


def transition(state: str, event: str) -> HedgeState:
    """The state `state` moves to on `event`; raises `HedgeTransitionError` on an impossible
    edge (unknown names included)."""
    try:
        return TRANSITIONS[(HedgeState(state), HedgeEvent(event))]
    except (KeyError, ValueError) as exc:
        raise HedgeTransitionError(f"hedge bot in {state!r} cannot take {event!r}") from exc


@dataclass(frozen=True)
class Transition:
    """One transition taken, for the runner to record as a BotEvent (`kind` = the event)."""

    at_ms: int
    source: HedgeState
    target: HedgeState
    event: HedgeEvent
    reason: str
    data: dict[str, str] = field(default_factory=dict)
