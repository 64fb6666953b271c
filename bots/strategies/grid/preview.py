"""Pure grid preview: what a grid configuration will do at a given price, before it runs.

No I/O, no Django, no `exchange`: the reference price, fee rates, leverage and maintenance
margin come in as arguments. `grid_preview` answers the questions an operator asks while
configuring a grid (the admin form's preview panel and `POST /api/bots/preview`):

* which prices the first `N` buys and sells will rest at around the reference price;
* how much quote the orders tie up (capital) and the initial margin that needs at the leverage;
* the profit of one grid step (a buy filled, then sold one level up, or the mirror) after fees;
* where the position cap binds: the infinite grid keeps adding one order per step while the
  price trends, until the position would pass `max_position_notional`;
* an estimate of the liquidation price at that full position, with the margin the position
  itself posts (isolated-style: the account's other collateral would push it further away).

Invalid grids are refused with a message per field (`GridPreview.errors`), never silently
trimmed as the live grid does: a level at or below zero, a level beyond the stop-loss or
take-profit, a size below the market's minimums.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from .config import _CTX, GridConfig, Lattice, Side, SizeMode, round_price

_ZERO = Decimal(0)
_ONE = Decimal(1)
# How far the cap walk looks for the level where the position cap binds before saying "not
# within"; a cap that far out is effectively no cap for a preview.
CAP_WALK_LEVELS = 10_000


@dataclass(frozen=True)
class PreviewLevel:
    """One order of the initial window; `step_profit_quote` is its round trip after fees."""

    level: int
    side: Side
    price: Decimal
    size_base: Decimal
    notional_quote: Decimal
    step_profit_quote: Decimal


@dataclass(frozen=True)
class CapBind:
    """Where the position cap stops one side of an infinite grid trending that way.

    `orders` fills on that side (from flat) are allowed; `last_price` is the last level that
    still fits, `position_base` / `entry_price` the position then. `binds` is False when the cap
    was not reached within `CAP_WALK_LEVELS` levels (or before prices reach zero).
    """

    binds: bool
    orders: int
    last_price: Decimal | None
    position_base: Decimal
    entry_price: Decimal | None
    liquidation_price: Decimal | None


@dataclass(frozen=True)
class GridPreview:
    """The result of `grid_preview`; `errors` maps field names to a reason (empty: valid)."""

    reference_price: Decimal
    centre_price: Decimal
    levels: tuple[PreviewLevel, ...]
    buy_notional_quote: Decimal
    sell_notional_quote: Decimal
    capital_quote: Decimal
    margin_quote: Decimal
    step_profit_min_quote: Decimal | None
    step_profit_min_percent: Decimal | None
    fee_rate: Decimal
    long_cap: CapBind | None
    short_cap: CapBind | None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """No field error."""
        return not self.errors


def liquidation_price(
    side: Side, entry: Decimal, leverage: Decimal, maintenance_fraction: Decimal
) -> Decimal:
    """Price at which a position opened at `entry` with `entry/leverage` margin per unit is
    liquidated (equity falls to the maintenance margin `maintenance_fraction * size * price`).

    Long: `m + (P - e) = f*P` per unit, `m = e/L`, so `P = e*(1 - 1/L) / (1 - f)`.
    Short: `m + (e - P) = f*P`, so `P = e*(1 + 1/L) / (1 + f)`.
    """
    inverse = _CTX.divide(_ONE, leverage)
    if side is Side.BUY:
        return _CTX.divide(entry * (_ONE - inverse), _ONE - maintenance_fraction)
    return _CTX.divide(entry * (_ONE + inverse), _ONE + maintenance_fraction)


def grid_preview(
    config: GridConfig,
    reference_price: Decimal,
    *,
    leverage: Decimal,
    maker_fee_rate: Decimal,
    taker_fee_rate: Decimal,
    maintenance_fraction: Decimal | None,
) -> GridPreview:
    """Preview `config` around `reference_price` (see the module docstring).

    Fee rates are fractions (0.00004 = 0.004 %): a post-only grid pays the maker rate on both
    legs of a step, otherwise the taker rate is assumed (the worse case). Capital is the notional
    of the larger side (a grid starting flat fills one side at a time, and the orders of the
    other side close what that side opened); margin is capital divided by the leverage.
    """
    if reference_price <= 0:
        raise ValueError("reference_price: must be greater than zero")
    if leverage < 1:
        raise ValueError("leverage: must be at least 1")
    fee_rate = maker_fee_rate if config.post_only else taker_fee_rate
    anchor = round_price(reference_price, config.tick_size)
    lattice = Lattice(anchor, config)
    centre = lattice.index_nearest(reference_price)
    errors: dict[str, str] = {}
    levels: list[PreviewLevel] = []
    for distance in range(1, config.levels_per_side + 1):
        for side in (Side.BUY, Side.SELL):
            level = centre - distance * side.sign
            price = lattice.price(level, side)
            if price <= 0:
                errors.setdefault("step", _non_positive_message(config, price, distance))
                continue
            levels.append(_level(config, lattice, side, level, price, fee_rate))
    errors |= _bound_errors(config, reference_price, levels)
    errors |= _size_errors(config, levels)
    buys = sum((lv.notional_quote for lv in levels if lv.side is Side.BUY), _ZERO)
    sells = sum((lv.notional_quote for lv in levels if lv.side is Side.SELL), _ZERO)
    capital = max(buys, sells)
    profits = [lv.step_profit_quote for lv in levels]
    worst = min(levels, key=lambda lv: lv.step_profit_quote) if levels else None
    cap_args = (config, lattice, centre, leverage, maintenance_fraction)
    return GridPreview(
        reference_price=reference_price,
        centre_price=lattice.price(centre),
        levels=tuple(sorted(levels, key=lambda lv: lv.price, reverse=True)),
        buy_notional_quote=buys,
        sell_notional_quote=sells,
        capital_quote=capital,
        margin_quote=_CTX.divide(capital, leverage),
        step_profit_min_quote=min(profits) if profits else None,
        step_profit_min_percent=(
            None
            if worst is None
            else _CTX.divide(worst.step_profit_quote * 100, worst.notional_quote)
        ),
        fee_rate=fee_rate,
        long_cap=None if "step" in errors else _cap_bind(Side.BUY, *cap_args),
        short_cap=_cap_bind(Side.SELL, *cap_args),
        errors=errors,
    )


def _level(
    config: GridConfig, lattice: Lattice, side: Side, level: int, price: Decimal, fee: Decimal
) -> PreviewLevel:
    size = _size_at(config, price)
    # The round trip of this order: a buy at `level` is sold one level up, a sell bought back
    # one level down, on the same size; fees on both legs.
    other = lattice.price(level + side.sign, side.opposite)
    gross = size * (other - price) * side.sign
    fees = fee * size * (price + other)
    return PreviewLevel(level, side, price, size, size * price, gross - fees)


def _size_at(config: GridConfig, price: Decimal) -> Decimal:
    """The configured size in base at `price`, rounded down to the lot (no minimum bump: the
    preview reports a size below the minimum instead of silently raising it)."""
    size = config.size
    if config.size_mode is SizeMode.QUOTE:
        size = _CTX.divide(size, price)
    lots = (size / config.lot_size).to_integral_value(rounding="ROUND_FLOOR")
    return lots * config.lot_size


def _non_positive_message(config: GridConfig, price: Decimal, distance: int) -> str:
    return (
        f"Buy level {distance} below the centre would sit at {price} (<= 0): the exchange "
        f"refuses it. Use a smaller step or fewer than {distance} levels per side."
    )


def _bound_errors(
    config: GridConfig, reference: Decimal, levels: list[PreviewLevel]
) -> dict[str, str]:
    errors: dict[str, str] = {}
    stop, target = config.stop_loss_price, config.take_profit_price
    if stop is not None:
        if reference <= stop:
            errors["stop_loss_price"] = (
                f"The current price {reference} is at or below the stop-loss {stop}: "
                "the bot would stop at once."
            )
        else:
            below = [lv.price for lv in levels if lv.side is Side.BUY and lv.price <= stop]
            if below:
                errors["stop_loss_price"] = (
                    f"{len(below)} buy level(s) sit at or below the stop-loss {stop} (lowest "
                    f"{min(below)}): the bot stops before they fill. Lower the stop-loss or "
                    "narrow the grid."
                )
    if target is not None:
        if reference >= target:
            errors["take_profit_price"] = (
                f"The current price {reference} is at or above the take-profit {target}: "
                "the bot would stop at once."
            )
        else:
            above = [lv.price for lv in levels if lv.side is Side.SELL and lv.price >= target]
            if above:
                errors["take_profit_price"] = (
                    f"{len(above)} sell level(s) sit at or above the take-profit {target} "
                    f"(highest {max(above)}): the bot stops before they fill. Raise the "
                    "take-profit or narrow the grid."
                )
    return errors


def _size_errors(config: GridConfig, levels: list[PreviewLevel]) -> dict[str, str]:
    """The smallest order of the window against the market minimums, in the size's own unit."""
    if not levels:
        return {}
    quote_mode = config.size_mode is SizeMode.QUOTE
    for lv in sorted(levels, key=lambda lv: lv.notional_quote):
        if lv.size_base < max(config.min_base_amount, config.lot_size):
            minimum = max(config.min_base_amount, config.lot_size)
            if quote_mode:
                needed = (minimum * lv.price).quantize(config.tick_size, ROUND_HALF_EVEN)
                return {
                    "size": (
                        f"At {lv.price} a size of {config.size} quote buys "
                        f"{lv.size_base} base, below the market minimum of {minimum} base: "
                        f"use at least {needed} quote per level."
                    )
                }
            return {"size": f"Each order must be at least {minimum} base (got {config.size})."}
        if lv.notional_quote < config.min_quote_amount:
            if quote_mode:
                return {
                    "size": (
                        f"At {lv.price} a level is worth {lv.notional_quote} quote, below the "
                        f"market minimum of {config.min_quote_amount} quote per order."
                    )
                }
            return {
                "size": (
                    f"At {lv.price} a size of {config.size} base is worth "
                    f"{lv.notional_quote} quote, below the market minimum of "
                    f"{config.min_quote_amount} quote per order."
                )
            }
    return {}


def _cap_bind(
    side: Side,
    config: GridConfig,
    lattice: Lattice,
    centre: int,
    leverage: Decimal,
    maintenance_fraction: Decimal | None,
) -> CapBind | None:
    """Walk `side` outwards from the centre as a trending price would fill it, one level at a
    time, until the next fill would push the position past the cap (as `desired_orders` does:
    exposure valued at the order's own price)."""
    cap = config.max_position_notional
    if cap is None:
        return None
    position = _ZERO
    cost = _ZERO
    orders = 0
    last: Decimal | None = None
    binds = False
    for distance in range(1, CAP_WALK_LEVELS + 1):
        price = lattice.price(centre - distance * side.sign, side)
        if price <= 0:
            break
        size = max(_size_at(config, price), config.lot_size)
        if (position + size) * price > cap:
            binds = True
            break
        position += size
        cost += size * price
        orders += 1
        last = price
    entry = _CTX.divide(cost, position) if position else None
    liquidation = None
    if entry is not None and maintenance_fraction is not None:
        liquidation = liquidation_price(side, entry, leverage, maintenance_fraction)
        liquidation = round_price(liquidation, config.tick_size)
    return CapBind(binds, orders, last, position * side.sign, entry, liquidation)
