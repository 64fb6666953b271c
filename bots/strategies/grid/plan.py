"""Pure grid core, part 2: grid state, desired orders, transitions and the plan diff.

No I/O, no Django, no `exchange`; `bots.strategies.grid` re-exports everything public.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal

from .config import (
    _PRICE_ROUNDING,
    _ZERO,
    GridConfig,
    Lattice,
    RiskTrigger,
    Side,
    Spacing,
    _require_positive,
    _scale_of,
    _size_lots,
    _whole,
    round_price,
)

# --------------------------------------------------------------------------- state and orders


@dataclass(frozen=True)
class MarketView:
    """What the grid needs of the market: best bid/ask (None when that side is empty), mid, and
    the exchange's mark price (None when none is known: a backtest's candles, before the first)."""

    best_bid: Decimal | None
    best_ask: Decimal | None
    mid: Decimal
    mark: Decimal | None = None

    def __post_init__(self) -> None:
        _require_positive("mid", self.mid)
        if self.mark is not None:
            _require_positive("mark", self.mark)

    @property
    def exit_price(self) -> Decimal:
        """The price the whole-bot exits judge: the mark, as Lighter's own stop-loss and
        take-profit orders trigger on it (lighter-api.md, SL/TP), else the mid. The book's mid
        can freeze (its deltas stop while the rest of the stream flows) or wick through a thin
        book; the mark is what the exchange values the position at."""
        return self.mid if self.mark is None else self.mark


@dataclass(frozen=True)
class GridState:
    """Where the grid stands: its lattice anchor and the (empty) centre level."""

    anchor: Decimal
    centre: int

    def lattice(self, config: GridConfig) -> Lattice:
        """The lattice this state lives on."""
        return Lattice(self.anchor, config)


@dataclass(frozen=True)
class DesiredOrder:
    """One order the grid wants resting at level `level`."""

    level: int
    side: Side
    price: Decimal
    size_base: Decimal
    post_only: bool

    @property
    def key(self) -> tuple[Side, int, Decimal]:
        """Identity used by `plan` to match it with a live order."""
        return (self.side, self.level, self.price)


# Statuses after which an order no longer rests (our Order model's and Lighter's `canceled-*`).
_TERMINAL_STATUSES = frozenset({"filled", "canceled", "rejected"})


@dataclass(frozen=True)
class LiveOrder:
    """An order believed to be on the book; `level` is None when it is not one of ours."""

    level: int | None
    side: Side
    price: Decimal
    size_base: Decimal
    client_order_index: int
    status: str

    @property
    def is_active(self) -> bool:
        """Whether it may still rest (intent, pending, open, partial, unknown all count)."""
        return self.status not in _TERMINAL_STATUSES and not self.status.startswith("canceled")

    @property
    def plan_inputs(self) -> tuple[int, Side, int | None, Decimal, bool]:
        """All of it that `plan` reads: an order whose inputs did not change plans the same."""
        return (self.client_order_index, self.side, self.level, self.price, self.is_active)


@dataclass(frozen=True)
class RiskAction:
    """Result of `risk_check`; `flatten_base` is the signed trade that closes the position."""

    trigger: RiskTrigger
    flatten_base: Decimal = _ZERO

    @property
    def triggered(self) -> bool:
        """True when the bot must stop placing and cancel its orders."""
        return self.trigger is not RiskTrigger.NONE


@dataclass(frozen=True)
class Plan:
    """What to send: cancels first, then creates (so the order count never overshoots).

    `foreign` lists live orders on the market that are not the grid's: reported, never touched.
    `flatten_base` is a signed reduce-only trade to send after the cancels (0: none).
    """

    creates: tuple[DesiredOrder, ...]
    cancels: tuple[LiveOrder, ...]
    reason: str
    foreign: tuple[LiveOrder, ...] = ()
    flatten_base: Decimal = _ZERO

    @property
    def is_empty(self) -> bool:
        """Nothing to send."""
        return not self.creates and not self.cancels and self.flatten_base == 0


# --------------------------------------------------------------------------- transitions


def initial_state(config: GridConfig, mid: Decimal, anchor: Decimal | None = None) -> GridState:
    """A fresh grid: lattice anchored at `anchor` (default: mid on the nearest tick).

    Pass the anchor of a previous run to keep the same lattice across restarts.
    """
    _require_positive("mid", mid)
    if anchor is None:
        anchor = round_price(mid, config.tick_size)
    lattice = Lattice(anchor, config)
    return GridState(anchor=anchor, centre=lattice.index_nearest(mid))


def on_fill(state: GridState, config: GridConfig, side: Side, level: int) -> GridState:
    """The order at `level` traded: the centre moves to that level.

    A buy moves the centre down to its level, a sell up to its level, never the other way: a fill
    reported after `on_price` already rolled past its level (the book often arrives before the
    fill) leaves the centre where the price put it instead of rolling back and forth. The runner
    calls this on an order's first fill; the rest of a partial fill is then cancelled by the next
    plan because the centre stays empty.
    """
    del config  # part of every transition's signature; this one needs only the level
    centre = min(state.centre, level) if side is Side.BUY else max(state.centre, level)
    return state if centre == state.centre else replace(state, centre=centre)


def on_price(state: GridState, config: GridConfig, mid: Decimal) -> GridState:
    """Roll the centre by whole levels once the mid reaches a neighbouring level.

    The centre holds while `P(c-1) < mid < P(c+1)`. At or beyond `P(c+1)` it moves to the highest
    level at or below the mid; at or beyond `P(c-1)` to the lowest level at or above it. The new
    centre's band then contains the mid, so one price never rolls twice.
    """
    lattice = state.lattice(config)
    if mid >= lattice.raw_price(state.centre + 1):
        return replace(state, centre=lattice.index_floor(mid))
    if mid <= lattice.raw_price(state.centre - 1):
        return replace(state, centre=lattice.index_ceil(mid))
    return state


def risk_check(config: GridConfig, position_base: Decimal, mark_price: Decimal) -> RiskAction:
    """Whole-bot exits: the stop-loss fires at or below its price, the take-profit at or above.

    Both are price bounds around a neutral grid (stop below, take-profit above). When one fires
    and `flatten_on_stop` is set, `flatten_base` is the trade that brings the position to zero.
    """
    _require_positive("mark_price", mark_price)
    trigger = RiskTrigger.NONE
    if config.stop_loss_price is not None and mark_price <= config.stop_loss_price:
        trigger = RiskTrigger.STOP_LOSS
    elif config.take_profit_price is not None and mark_price >= config.take_profit_price:
        trigger = RiskTrigger.TAKE_PROFIT
    if trigger is RiskTrigger.NONE or not config.flatten_on_stop:
        return RiskAction(trigger)
    return RiskAction(trigger, flatten_base=-position_base)


# Why `empty_levels` finds a level of the window without a wanted order.
EMPTY_STOP = "stop crossed"
EMPTY_CAP = "position cap"
EMPTY_MAX_ORDERS = "max open orders"
EMPTY_POST_ONLY = "post-only: would cross the book"
EMPTY_PRICE = "no price of its own"


def desired_orders(
    state: GridState, config: GridConfig, market: MarketView, position_base: Decimal
) -> tuple[DesiredOrder, ...]:
    """The orders the grid wants now, nearest the centre first (buy, sell, buy, sell, ...).

    Buys at `c-N .. c-1`, sells at `c+1 .. c+N`, minus the levels the caps remove (post-only
    safety, the position cap, non-positive prices) and trimmed to `max_open_orders`, farthest
    first. Empty when a stop-loss or take-profit price has been crossed.
    """
    return _desired(state, config, market, position_base, None)


def empty_levels(
    state: GridState, config: GridConfig, market: MarketView, position_base: Decimal
) -> dict[int, str]:
    """Why `desired_orders` wants no order at a level of the window (`c-N .. c+N` but the
    centre), by level: a crossed stop, the position cap, `max_open_orders`, post-only safety
    against the book, or a price that rounds to zero or onto the nearer level's. A level not in
    the answer is wanted."""
    why: dict[int, str] = {}
    _desired(state, config, market, position_base, why)
    return why


def _desired(
    state: GridState,
    config: GridConfig,
    market: MarketView,
    position_base: Decimal,
    why: dict[int, str] | None,
) -> tuple[DesiredOrder, ...]:
    if risk_check(config, position_base, market.exit_price).triggered:
        if why is not None:
            n, centre = config.levels_per_side, state.centre
            why.update((level, EMPTY_STOP) for level in range(centre - n, centre + n + 1))
            del why[centre]
        return ()
    lattice = state.lattice(config)
    buys = _side_orders(lattice, Side.BUY, state.centre, market, position_base, why)
    sells = _side_orders(lattice, Side.SELL, state.centre, market, position_base, why)
    merged: list[DesiredOrder] = []
    for i in range(max(len(buys), len(sells))):
        merged.extend(orders[i] for orders in (buys, sells) if i < len(orders))
    if config.max_open_orders is not None:
        trimmed = merged[config.max_open_orders :]
        if why is not None:
            why.update((order.level, EMPTY_MAX_ORDERS) for order in trimmed)
        del merged[config.max_open_orders :]
    return tuple(merged)


def quiet_band(
    state: GridState, config: GridConfig, market: MarketView, position_base: Decimal
) -> tuple[Decimal, Decimal] | None:
    """The open range of mids in which another book changes nothing a grid at `state` would do
    after deciding on `market` with a fresh book; None when there is no such range around the
    mid (an order of the ladder already held back by the book, a stop crossed).

    Inside it: the centre holds (`P(c-1) < mid < P(c+1)`, see `on_price`), no stop-loss or
    take-profit is crossed, and no order of the ladder can touch the book, since a best bid is at
    or below the mid and a best ask at or above it: the nearest buy stays below any best ask and
    the nearest sell above any best bid. The desired orders are then the same for any book with
    its mid in the range.
    """
    if risk_check(config, position_base, market.exit_price).triggered:
        return None
    untouched = desired_orders(state, config, MarketView(None, None, market.mid), position_base)
    if desired_orders(state, config, market, position_base) != untouched:
        return None
    lattice = state.lattice(config)
    low, high = lattice.raw_price(state.centre - 1), lattice.raw_price(state.centre + 1)
    for order in untouched:
        if order.side is Side.BUY:
            low = max(low, order.price)
        else:
            high = min(high, order.price)
    if config.stop_loss_price is not None:
        low = max(low, config.stop_loss_price)
    if config.take_profit_price is not None:
        high = min(high, config.take_profit_price)
    if not low < market.mid < high:
        return None
    return low, high


def _side_orders(
    lattice: Lattice,
    side: Side,
    centre: int,
    market: MarketView,
    position_base: Decimal,
    why: dict[int, str] | None = None,
) -> list[DesiredOrder]:
    # Integer ticks and lots: this loop runs on every event, Decimal division is the slow part.
    config = lattice.config
    scale = _scale_of(config)
    sign = side.sign
    # Post-only: a buy must stay below the best ask, a sell above the best bid.
    touch = market.best_ask if side is Side.BUY else market.best_bid
    limit = None if touch is None else touch.scaleb(-scale.tick_exp)
    position = position_base.scaleb(-scale.lot_exp)  # in lots, exact
    arithmetic = config.spacing is Spacing.ARITHMETIC
    anchor_ticks = _whole(lattice.anchor.scaleb(-scale.tick_exp), ROUND_FLOOR)
    orders: list[DesiredOrder] = []
    last_ticks = 0
    for distance in range(1, config.levels_per_side + 1):
        level = centre - distance * sign
        if arithmetic:
            ticks = anchor_ticks + level * scale.step_ticks
        else:
            raw = lattice.raw_price(level).scaleb(-scale.tick_exp)
            ticks = _whole(raw, _PRICE_ROUNDING[side])
        if ticks <= 0 or ticks == last_ticks:
            # below zero, or geometric levels finer than a tick: keep the nearer one
            if why is not None:
                why[level] = EMPTY_PRICE
            continue
        if limit is not None and (ticks >= limit if sign > 0 else ticks <= limit):
            if why is not None:
                why[level] = EMPTY_POST_ONLY
            continue
        lots = _size_lots(scale, ticks)
        after = position + sign * lots
        cap = scale.cap_units
        if cap is not None and abs(after) > abs(position) and abs(after) * ticks > cap:
            # this side would grow exposure past the cap
            if why is not None:
                far = range(distance, config.levels_per_side + 1)
                why.update((centre - d * sign, EMPTY_CAP) for d in far)
            break
        position, last_ticks = after, ticks
        price = Decimal(ticks).scaleb(scale.tick_exp)
        size = Decimal(lots).scaleb(scale.lot_exp)
        orders.append(DesiredOrder(level, side, price, size, config.post_only))
    return orders


# --------------------------------------------------------------------------- diff


def plan(desired: Sequence[DesiredOrder], live: Iterable[LiveOrder]) -> Plan:
    """Diff desired against live orders by (side, level, price); sizes are not compared.

    A live order matching a desired one is kept (the lowest client index among duplicates, which
    has the best queue position); every other active order of ours is cancelled. Live orders with
    no level are foreign: reported in `Plan.foreign`, never cancelled. Terminal orders are ignored.
    """
    wanted = {order.key for order in desired}
    kept: set[tuple[Side, int, Decimal]] = set()
    cancels: list[LiveOrder] = []
    foreign: list[LiveOrder] = []
    active = (order for order in live if order.is_active)
    for order in sorted(active, key=lambda order: order.client_order_index):
        if order.level is None:
            foreign.append(order)
            continue
        key = (order.side, order.level, order.price)
        if key in wanted and key not in kept:
            kept.add(key)
        else:
            cancels.append(order)
    creates = tuple(order for order in desired if order.key not in kept)
    reason = (
        f"{len(creates)} to create, {len(cancels)} to cancel" if creates or cancels else "in sync"
    )
    if foreign:
        reason += f", {len(foreign)} foreign left alone"
    return Plan(creates, tuple(cancels), reason, tuple(foreign))


def stop_plan(live: Iterable[LiveOrder], risk: RiskAction) -> Plan:
    """The plan after a whole-bot exit: cancel every active order of ours, then flatten."""
    active = [order for order in live if order.is_active]
    ours = tuple(order for order in active if order.level is not None)
    foreign = tuple(order for order in active if order.level is None)
    return Plan((), ours, f"{risk.trigger.value}: cancel all", foreign, risk.flatten_base)
