"""The infinite grid as a strategy (`bots.strategies.protocol`): one leg, the pure grid core.

Fills move the centre to their level at once (so the replenish goes out with the next decision);
a book change lets the next decision roll the centre with the price, but not in the burst that
brought a fill: the book that made the fill has not arrived yet, and rolling on the old mid would
undo the move the fill just made. Decisions diff the desired ladder against the working orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bots.strategies.grid.config import GridConfig, Side
from bots.strategies.grid.plan import (
    GridState,
    MarketView,
    desired_orders,
    initial_state,
    on_fill,
    on_price,
    plan,
    quiet_band,
    risk_check,
)
from bots.strategies.protocol import (
    BookChanged,
    Cancel,
    Decide,
    Event,
    Filled,
    Halt,
    Intent,
    Leg,
    OrderTraded,
    OwnPosition,
    Place,
    config_changed,
)


@dataclass
class GridStrategy:
    """The grid's state: the lattice position (`state`), the bot's own position on its leg,
    book freshness."""

    leg: Leg
    config: GridConfig
    state: GridState | None = None
    position_base: Decimal = Decimal(0)
    book_fresh: bool = True
    last_reason: str = field(default="", compare=False)

    @property
    def legs(self) -> tuple[Leg, ...]:
        """The grid trades one leg."""
        return (self.leg,)

    def start(self, mid: Decimal, anchor: Decimal | None, centre: int | None) -> GridState:
        """Restore the lattice of earlier runs (anchor and centre), or start one at `mid`."""
        state = initial_state(self.config, mid, anchor)
        if centre is not None and anchor is not None:
            state = on_price(GridState(anchor, centre), self.config, mid)
        self.state = state
        return state

    def on_event(self, event: Event) -> list[Intent]:
        """Apply `event`; only `Decide` returns intents."""
        if isinstance(event, BookChanged):
            self.book_fresh = True
        elif isinstance(event, OrderTraded):
            if event.level is not None:
                self._move_to_fill(event.side, event.level)
        elif isinstance(event, Filled):
            self.position_base += event.size_base * event.side.sign
            if event.level is not None:
                self._move_to_fill(event.side, event.level)
        elif isinstance(event, OwnPosition):
            # The grid's position is its own fills (and adoptions), never the exchange's
            # `PositionSet`: that is the account's, and may hold other bots' and manual trades'
            # positions; counting it too would also count a fill reported twice (position, then
            # fill, in one burst).
            self.position_base = event.size_base
        elif isinstance(event, Decide):
            return self._decide(event)
        return []

    def settings_apply(self, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """The operator's live settings (names of `GridConfig` fields, say the stop-loss price)
        from now on; returns those that changed, as (before, after). A value the config refuses
        raises ValueError and changes nothing."""
        self.config, changed = config_changed(self.config, values)
        return changed

    def exit_due(self, market: MarketView) -> bool:
        """Whether `market` is past a whole-bot exit (stop-loss, take-profit): the next decision
        halts, so nothing planned before it should still go out."""
        return risk_check(self.config, self.position_base, market.exit_price).triggered

    def exit_prices(self) -> tuple[Decimal | None, Decimal | None]:
        """The mark prices the exits fire at: at or below the stop-loss, at or above the
        take-profit (`risk_check`)."""
        return self.config.stop_loss_price, self.config.take_profit_price

    def quiet_band(self, market: MarketView) -> tuple[Decimal, Decimal] | None:
        """After a decision on `market` that asked for nothing: the open range of mids in which
        another book would change nothing either (`plan.quiet_band`); None when any book may
        (no lattice yet, or the book is not fresh: a fill moved the centre since)."""
        if self.state is None or not self.book_fresh:
            return None
        return quiet_band(self.state, self.config, market, self.position_base)

    def _move_to_fill(self, side: Side, level: int) -> None:
        # Idempotent (see grid.on_fill): an order report and its fill report both move here.
        self.book_fresh = False
        if self.state is not None:
            self.state = on_fill(self.state, self.config, side, level)

    def _decide(self, event: Decide) -> list[Intent]:
        if self.state is None:
            return []
        market: MarketView = event.market
        if self.book_fresh:
            self.state = on_price(self.state, self.config, market.mid)
        risk = risk_check(self.config, self.position_base, market.exit_price)
        if risk.triggered:
            return [Halt(self.leg, risk.trigger, risk.flatten_base, self.config.flatten_on_stop)]
        desired = desired_orders(self.state, self.config, market, self.position_base)
        diff = plan(desired, event.working)
        self.last_reason = diff.reason
        cancels: list[Intent] = [Cancel(self.leg, o.client_order_index) for o in diff.cancels]
        return cancels + [Place(self.leg, order) for order in diff.creates]
