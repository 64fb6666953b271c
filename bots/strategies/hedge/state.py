"""The hedge strategy's records: the market order in flight, figures, and a restart snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bots.strategies.grid.config import Side
from bots.strategies.protocol import Leg

from .machine import HedgeState


class Phase(StrEnum):
    """Which half of a cycle A is in: opening its position, or closing it."""

    OPEN = "open"
    CLOSE = "close"


class Purpose(StrEnum):
    """Why a market order was sent: a hedge of A's fills on B, or a repair of the net."""

    HEDGE = "hedge"
    REPAIR = "repair"


@dataclass
class InFlight:
    """The one market order in flight: sent, not yet filled in full, ended or given up on."""

    leg: Leg
    side: Side
    size_base: Decimal
    sent_ms: int
    purpose: Purpose
    filled_base: Decimal = Decimal(0)
    # Told by `OrderSent` (`index_told`), else learnt from its first report (which may be a late
    # report of an older order: the intent carries no index).
    client_order_index: int | None = None
    index_told: bool = False


@dataclass(frozen=True)
class HedgeFigures:
    """What the dashboard shows of one hedge bot's strategy."""

    state: HedgeState
    time_in_state_ms: int
    cycles_completed: int
    repairs: int
    hedge_latency_ms: tuple[int, ...]  # A fill seen -> B filled, oldest first, bounded
    position_a_base: Decimal
    position_b_base: Decimal
    net_exposure_base: Decimal
    within_tolerance: bool


@dataclass(frozen=True)
class HedgeSnapshot:
    """What a restart needs to resume where the bot was (the runner persists it with the bot).

    Positions, fills and A's resting order come back from the exchange at startup; the market
    order that was in flight does not (it resolved while the bot was down, and the positions
    show how), so the owed hedge is worked out again from the positions.
    """

    state: HedgeState
    phase: Phase
    entered_ms: int
    cycles_completed: int
    repairs: int
    hold_until_ms: int | None
    cooldown_until_ms: int | None
    cycle_counted: bool
