"""Pure math of the infinite grid (design.md "Infinite grid, precisely").

The code lives in `bots.strategies.grid.config` (configuration, rounding, lattice) and
`bots.strategies.grid.plan`
(state, desired orders, transitions, plan); this module is the one import for callers.

No I/O, no Django, no `exchange`: prices, positions and books come in as arguments and every
result is a frozen dataclass of `Decimal`s, so the same core runs against the simulator, the live
venue, a backtest and hypothesis.

Choices this module makes (the runner relies on them):

* Rounding has one home: `_PRICE_ROUNDING` (buys round the price down to the tick, sells up, so
  the grid never gets tighter than the lattice) and `_size_lots` (sizes round down to the lot,
  then up to the exchange minimum: one lot, `min_base_amount`, `min_quote_amount` at that price).
  Ticks and lots are powers of ten, as on Lighter, so the hot loop runs on integers.
* Post-only safety drops a level that would cross (a buy at or above the best ask, a sell at or
  below the best bid) instead of shifting it, so every order stays on the lattice; the level comes
  back by itself when the book moves away. It applies with `post_only` off too: that flag only
  chooses the time in force, a grid never takes liquidity on purpose.
* Hysteresis: the centre `c` holds while the mid stays strictly between `P(c-1)` and `P(c+1)`.
  Reaching a neighbouring level rolls the centre onto the last level crossed, the same place a fill
  of the order resting there would put it, so prices moving inside a step never churn orders.
* The position cap walks each side outwards from the centre, adding up what the orders would do
  to the position if they all filled; the first order that would take the exposure above
  `max_position_notional` (valued at its own price) closes that side.
"""

from __future__ import annotations

from .config import (
    GridConfig,
    Lattice,
    RiskTrigger,
    Side,
    SizeMode,
    Spacing,
    round_price,
    round_size,
    step_from_bps,
    step_from_percent,
    tick_from_decimals,
)
from .plan import (
    DesiredOrder,
    GridState,
    LiveOrder,
    MarketView,
    Plan,
    RiskAction,
    desired_orders,
    empty_levels,
    initial_state,
    on_fill,
    on_price,
    plan,
    quiet_band,
    risk_check,
    stop_plan,
)

__all__ = [
    "DesiredOrder",
    "GridConfig",
    "GridState",
    "Lattice",
    "LiveOrder",
    "MarketView",
    "Plan",
    "RiskAction",
    "RiskTrigger",
    "Side",
    "SizeMode",
    "Spacing",
    "desired_orders",
    "empty_levels",
    "initial_state",
    "on_fill",
    "on_price",
    "plan",
    "quiet_band",
    "risk_check",
    "round_price",
    "round_size",
    "step_from_bps",
    "step_from_percent",
    "stop_plan",
    "tick_from_decimals",
]
