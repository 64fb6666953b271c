"""The hedge bot's pure core (design.md "Hedge bot, precisely"; docs/hedge.md).

Maker leg A rests a post-only order; every fill of A, partial ones included, is hedged by a market
order of the same size on taker leg B, with a worst price. The code lives in
`bots.strategies.hedge.config` (configuration and validation), `.events` (two events beyond the
protocol's), `.pricing` (maker and worst prices), `.machine` (the state table), `.steps` (when it
moves), `.pair` (positions and books), `.maker` (A's orders), `.taker` (market orders and
retries), `.state` (records) and `.strategy` (the strategy); this module is the one import for
callers.

No I/O, no Django, no `exchange`, no clock: time comes in as `Tick`, randomness as a seeded
generator.
"""

from __future__ import annotations

from .config import (
    Direction,
    DurationMs,
    HedgeConfig,
    HedgeConfigError,
    PriceMode,
    RetryPolicy,
    Rng,
    config_errors,
    draw_ms,
)
from .events import BookLevels, OrderSent
from .machine import (
    TRANSITIONS,
    HedgeEvent,
    HedgeState,
    HedgeTransitionError,
    Transition,
    transition,
)
from .pricing import maker_price, worst_price
from .state import HedgeFigures, HedgeSnapshot, Phase
from .strategy import HedgeStrategy

__all__ = [
    "TRANSITIONS",
    "BookLevels",
    "Direction",
    "DurationMs",
    "HedgeConfig",
    "HedgeConfigError",
    "HedgeEvent",
    "HedgeFigures",
    "HedgeSnapshot",
    "HedgeState",
    "HedgeStrategy",
    "HedgeTransitionError",
    "OrderSent",
    "Phase",
    "PriceMode",
    "RetryPolicy",
    "Rng",
    "Transition",
    "config_errors",
    "draw_ms",
    "maker_price",
    "transition",
    "worst_price",
]
