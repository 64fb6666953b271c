"""What every strategy is: state plus `on_event(event) -> intents`, addressed to legs.

Pure: no Django, no I/O, no clock. The engine's runner (`bots.engine.runner`) turns stream events
and its own timers into these events, calls the strategy, and sends the intents it gets back (one
batch per leg per burst, intents persisted first). A backtest can drive the same strategy with a
fill model instead of the runner.

A *leg* is one account on one market: the grid has one, the hedge bot two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from bots.strategies.grid.config import RiskTrigger, Side
from bots.strategies.grid.plan import DesiredOrder, LiveOrder, MarketView


@dataclass(frozen=True)
class Leg:
    """One account on one market (our database ids of both)."""

    account_id: int
    market_id: int


# --- events (what the strategy is told) ------------------------------------------------------


@dataclass(frozen=True)
class BookChanged:
    """The leg's order book moved (the next `Decide` may roll the strategy with the price)."""

    leg: Leg


@dataclass(frozen=True)
class OrderTraded:
    """One of our orders traded at `level` (an order report, possibly before its fill report)."""

    leg: Leg
    side: Side
    level: int | None


@dataclass(frozen=True)
class Filled:
    """A fill of one of our orders: `size_base` traded on `side` at the order's `level` (for the
    orders that have one), at `price`, of the order with `client_order_index`."""

    leg: Leg
    side: Side
    size_base: Decimal
    level: int | None
    client_order_index: int | None = None
    price: Decimal | None = None


@dataclass(frozen=True)
class PositionSet:
    """The exchange says the leg's position is `size_base` (positive long, negative short)."""

    leg: Leg
    size_base: Decimal


@dataclass(frozen=True)
class OwnPosition:
    """The bot's own position on the leg is `size_base`: the sum of its fills and adoptions
    (design.md "Ownership"). Unlike `PositionSet` it never includes another bot's or a manual
    trade's position on the same account and market."""

    leg: Leg
    size_base: Decimal


@dataclass(frozen=True)
class Tick:
    """Time passed: `now_ms` is the runner's wall clock in milliseconds (strategies never read a
    clock; timeouts, hold times and cooldowns are decided from this)."""

    now_ms: int


@dataclass(frozen=True)
class OrderEnded:
    """One of our orders left the book without (fully) filling: cancelled or rejected, with the
    exchange's reason (a market order that expired unfilled ends this way too)."""

    leg: Leg
    client_order_index: int
    reason: str


@dataclass(frozen=True)
class Decide:
    """The end of a burst: the market and our working orders now; answer with intents."""

    leg: Leg
    market: MarketView
    working: Sequence[LiveOrder]


Event = BookChanged | OrderTraded | Filled | PositionSet | OwnPosition | Tick | OrderEnded | Decide


# --- intents (what the strategy asks for) ----------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Place a limit order (post-only when the order says so) at a lattice level."""

    leg: Leg
    order: DesiredOrder


@dataclass(frozen=True)
class Cancel:
    """Cancel one of our working orders."""

    leg: Leg
    client_order_index: int


@dataclass(frozen=True)
class MarketOrder:
    """A market (IOC) order of `size_base` on `side` whose average execution price must not be
    worse than `worst_price`; `reduce_only` for closes and repairs."""

    leg: Leg
    side: Side
    size_base: Decimal
    worst_price: Decimal
    reduce_only: bool = False


@dataclass(frozen=True)
class Halt:
    """A risk exit: stop placing, cancel everything, flatten `flatten_base` if not zero.

    `flatten`: the strategy closes its position on this exit whatever it is when its orders
    are all ended (fills still in flight at the decision included; the grid's flatten on
    stop), not only the `flatten_base` it knew of when it decided."""

    leg: Leg
    trigger: RiskTrigger
    flatten_base: Decimal
    flatten: bool = False


Intent = Place | Cancel | MarketOrder | Halt


class Strategy(Protocol):
    """State plus a function from events to intents (no I/O, no clock)."""

    @property
    def legs(self) -> tuple[Leg, ...]:
        """The legs this strategy trades."""
        ...

    def on_event(self, event: Event) -> list[Intent]:
        """Apply `event` to the state; the intents it calls for (often none)."""
        ...


C = TypeVar("C")


def config_changed(config: C, values: dict[str, Any]) -> tuple[C, dict[str, tuple[Any, Any]]]:
    """`config` (a frozen dataclass) with the operator's live `values` (field names) applied, and
    the fields that changed, (before, after). The config's own validation refuses a value
    (a ValueError) and nothing changes."""
    changed = {
        name: (getattr(config, name), value)
        for name, value in values.items()
        if getattr(config, name) != value
    }
    if not changed:
        return config, {}
    return replace(config, **{name: new for name, (_, new) in changed.items()}), changed  # type: ignore[type-var]
