"""When the hedge bot's machine moves: per state, the event due now (if any) and its reason.

`machine` says where an event leads; this module says when one happens, from the facts the
strategy keeps (`Facts`, which `HedgeStrategy` is). A step returns the event with its reason and
data for the BotEvent; the strategy takes it and asks again, so one decision can chain a few
transitions (repaired -> opening -> holding).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from .config import HedgeConfig
from .machine import HedgeEvent, HedgeState
from .maker import MakerOrders
from .pair import PairBook
from .state import Phase
from .taker import MarketOrders

S, E = HedgeState, HedgeEvent
Step = tuple[HedgeEvent, str, dict[str, str]]


class Facts(Protocol):
    """What the steps read of the strategy (and the few counters a step moves)."""

    config: HedgeConfig
    pair: PairBook
    maker: MakerOrders
    orders: MarketOrders
    now_ms: int
    phase: Phase
    hold_until: int | None
    cooldown_until: int | None
    cycles_completed: int
    cycle_counted: bool
    unreported_a: Decimal
    repair_before: Decimal
    repair_sent_net: Decimal
    verify_until: int | None

    def hedge_due(self) -> bool: ...

    def remaining(self) -> Decimal: ...

    def repair_failed(self) -> int | None: ...


def idle(s: Facts) -> Step | None:
    """Start: both legs reported; an imbalance already there is repaired first."""
    net, tolerance = s.pair.net, s.config.imbalance_tolerance_base
    if abs(net) > tolerance:
        shown = tolerance.quantize(s.config.lot_size)  # the row's ten decimals, on the lot
        return E.IMBALANCE, f"net {net} beyond tolerance {shown} at start", {"net": str(net)}
    return E.START, f"positions A {s.pair.tracked_a}, B {s.pair.tracked_b}", {}


def _at_rest(s: Facts) -> Step | None:
    """What any state without a hedge under way watches: a hedge owed, or an imbalance."""
    if s.hedge_due():
        owed, filled = s.pair.owed, s.unreported_a
        data = {"owed_base": str(owed), "a_filled_base": str(filled)}
        return E.HEDGE_DUE, f"A filled {filled}: B owes {owed}", data
    return _imbalance(s)


def _imbalance(s: Facts) -> Step | None:
    """An imbalance the exchange confirms: judged only with nothing owed or in flight, once
    the reported positions have disagreed with the tracked ones for the grace. The tracked
    ones then take the reported; within tolerance (both legs moved alike) that is all."""
    pair, tolerance = s.pair, s.config.imbalance_tolerance_base
    if s.orders.inflight is not None or abs(pair.owed) > tolerance:
        pair.mismatch_since = None
        return None
    if not pair.mismatch_lasted(s.now_ms, s.config.imbalance_grace_ms):
        return None
    tracked = -pair.owed
    pair.rebaseline()
    if abs(pair.net) <= tolerance:
        return None
    data = {"net_base": str(pair.net), "tracked_net_base": str(tracked),
            "position_a": str(pair.position_a), "position_b": str(pair.position_b)}  # fmt: skip
    shown = tolerance.quantize(s.config.lot_size)  # the row's ten decimals, on the lot
    return E.IMBALANCE, f"net {pair.net} beyond tolerance {shown}", data


def opening(s: Facts) -> Step | None:
    """Opened once A holds the size (what is left is below the minimum) with nothing working."""
    step = _at_rest(s)
    if step is None and not s.maker.busy and s.remaining() == 0:
        return E.OPENED, f"A holds {s.pair.tracked_a}, B {s.pair.tracked_b}", {}
    return step


def holding(s: Facts) -> Step | None:
    step = _at_rest(s)
    if step is None and s.hold_until is not None and s.now_ms >= s.hold_until:
        return E.HOLD_OVER, "hold time over: closing", {}
    return step


def closing(s: Facts) -> Step | None:
    """Closed once A is flat (up to what is below the minimum) with nothing working. The last
    cycle also waits for the exchange's net to be within tolerance (an imbalance reported is
    repaired after its grace, not left behind) and for the fate of every market order given up
    on (it may still execute; a finished bot would leave that to the runner's reconcile)."""
    step = _at_rest(s)
    if step is not None or s.maker.busy or s.remaining() > 0:
        return step
    cycles = s.config.cycles
    done = s.cycles_completed + (0 if s.cycle_counted else 1)
    last = cycles is not None and done >= cycles
    if last and (s.orders.unsettled or abs(s.pair.net) > s.config.imbalance_tolerance_base):
        return None
    reason = f"cycle {done} closed: A {s.pair.tracked_a}, B {s.pair.tracked_b}"
    return (E.LAST_CYCLE if last else E.CLOSED), reason, {}


def cooldown(s: Facts) -> Step | None:
    step = _at_rest(s)
    if step is None and s.cooldown_until is not None and s.now_ms >= s.cooldown_until:
        return E.COOLDOWN_OVER, "cooldown over: next cycle", {}
    return step


def hedging(s: Facts) -> Step | None:
    """Both hedging states: more of A filled, the attempts used up, or B caught up."""
    owed = s.pair.owed
    if s.orders.exhausted:
        data = {"owed_base": str(owed), "attempts": str(s.orders.failures)}
        return E.HEDGE_FAILED, f"hedge of {owed} failed {s.orders.failures} times", data
    if s.unreported_a > 0:
        more = s.unreported_a
        return E.A_FILLED, f"A filled {more} more: B owes {owed}", {"a_filled_base": str(more)}
    if s.orders.inflight is None and not s.hedge_due():
        return E.HEDGED, f"B caught up: A {s.pair.tracked_a}, B {s.pair.tracked_b}", {}
    return None


def repairing(s: Facts) -> Step | None:
    """Repaired once the reported net is within tolerance (with A quiet and nothing in
    flight). A repair order that did not get it there within the grace is followed by another:
    at once when it reduced the net (partly filled, or the leg it reduced is flat now), after
    the backoff when it did not, and that is a failed attempt (`repair_attempts` of those in a
    row end in error)."""
    if s.orders.inflight is not None or s.maker.busy:
        return None
    net = s.pair.net
    data = {"before_base": str(s.repair_before), "after_base": str(net)}
    if abs(net) <= s.config.imbalance_tolerance_base:
        event = E.REPAIRED_OPEN if s.phase is Phase.OPEN else E.REPAIRED_CLOSE
        return event, f"repaired: net {s.repair_before} -> {net}", data
    if s.verify_until is None or s.now_ms < s.verify_until:
        return None
    s.verify_until = None
    if abs(net) < abs(s.repair_sent_net):
        return E.REPAIR_PARTIAL, f"net {s.repair_sent_net} -> {net}: repairing on", data
    delay = s.repair_failed()
    data["attempt"] = str(s.orders.failures)
    if delay is None:
        return E.GIVE_UP, f"net still {net} after {s.orders.failures} repairs", data
    return E.REPAIR_FAILED, f"net still {net} after repair {s.orders.failures}", data


STEPS: dict[HedgeState, Callable[[Facts], Step | None]] = {
    S.IDLE: idle,
    S.OPENING: opening,
    S.HEDGING: hedging,
    S.HOLDING: holding,
    S.CLOSING: closing,
    S.HEDGING_CLOSE: hedging,
    S.COOLDOWN: cooldown,
    S.REPAIRING: repairing,
}
