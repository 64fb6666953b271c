"""Pure grid core, part 1: configuration, rounding policy and the lattice (see
`bots.strategies.grid`).

No I/O, no Django, no `exchange`; `bots.strategies.grid` re-exports everything public.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal
from enum import StrEnum
from functools import lru_cache

# One explicit context so results never depend on the caller's thread-local decimal context.
_CTX = Context(prec=40, rounding=ROUND_HALF_EVEN)
_ZERO = Decimal(0)
_ONE = Decimal(1)
_BPS = Decimal("0.0001")
_PERCENT = Decimal("0.01")


class Side(StrEnum):
    """Order side; values match the exchange's and the Order model's."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy (adds to the position), -1 for a sell."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        """The other side: a filled buy is replenished by a sell and vice versa."""
        return Side.SELL if self is Side.BUY else Side.BUY


class Spacing(StrEnum):
    """Arithmetic: `P(k) = anchor + k*step`; geometric: `P(k) = anchor * (1+step)**k`."""

    ARITHMETIC = "arithmetic"
    GEOMETRIC = "geometric"


class SizeMode(StrEnum):
    """Size per level given in base units, or as a quote notional converted per level."""

    BASE = "base"
    QUOTE = "quote"


class RiskTrigger(StrEnum):
    """Which whole-bot exit, if any, the mark price has crossed."""

    NONE = "none"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"


def step_from_bps(step_bps: Decimal) -> Decimal:
    """Geometric step as a fraction from basis points: 50 bps -> 0.005."""
    return step_bps * _BPS


def step_from_percent(step_percent: Decimal) -> Decimal:
    """Geometric step as a fraction from a percentage (the admin form's unit): 0.5 -> 0.005."""
    return step_percent * _PERCENT


def tick_from_decimals(decimals: int) -> Decimal:
    """Smallest increment for a number of decimals (Lighter `price_decimals`/`size_decimals`)."""
    return Decimal(1).scaleb(-decimals)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True, kw_only=True)
class GridConfig:
    """Everything that shapes one grid; validated on construction (ValueError names the field)."""

    spacing: Spacing
    step: Decimal
    levels_per_side: int
    size_mode: SizeMode
    size: Decimal
    tick_size: Decimal
    lot_size: Decimal
    min_base_amount: Decimal = _ZERO
    min_quote_amount: Decimal = _ZERO
    post_only: bool = True
    max_open_orders: int | None = None
    max_position_notional: Decimal | None = None
    stop_loss_price: Decimal | None = None
    take_profit_price: Decimal | None = None
    flatten_on_stop: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float):
                raise ValueError(f"{f.name}: floats are not accepted, use Decimal")
            if isinstance(value, Decimal) and not value.is_finite():
                raise ValueError(f"{f.name}: must be finite")
        if not isinstance(self.spacing, Spacing):
            raise ValueError(f"spacing: unknown mode {self.spacing!r}")
        if not isinstance(self.size_mode, SizeMode):
            raise ValueError(f"size_mode: unknown mode {self.size_mode!r}")
        for name in ("step", "size", "tick_size", "lot_size"):
            _require_positive(name, getattr(self, name))
        for name in ("tick_size", "lot_size"):
            if getattr(self, name).normalize().as_tuple().digits != (1,):
                raise ValueError(f"{name}: must be a power of ten (Lighter: 10**-decimals)")
        for name in ("min_base_amount", "min_quote_amount"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative")
        for name in ("max_position_notional", "stop_loss_price", "take_profit_price"):
            if getattr(self, name) is not None:
                _require_positive(name, getattr(self, name))
        if isinstance(self.levels_per_side, bool) or self.levels_per_side < 1:
            raise ValueError("levels_per_side: must be an integer >= 1")
        if self.max_open_orders is not None and self.max_open_orders < 1:
            raise ValueError("max_open_orders: must be >= 1")
        # Lattice prices are exact only if an arithmetic step is a whole number of ticks.
        if self.spacing is Spacing.ARITHMETIC and self.step % self.tick_size != 0:
            raise ValueError("step: an arithmetic step must be a multiple of tick_size")
        if self.spacing is Spacing.GEOMETRIC and self.step >= 1:
            raise ValueError("step: a geometric step is a fraction below 1 (0.005 = 0.5 %)")
        sl, tp = self.stop_loss_price, self.take_profit_price
        if sl is not None and tp is not None and sl >= tp:
            raise ValueError("stop_loss_price: must be below take_profit_price")


def _require_positive(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or value <= 0:
        raise ValueError(f"{name}: must be a Decimal greater than zero")


# --------------------------------------------------------------------------- rounding policy

# The one place that says which way prices round: a buy never pays more, a sell never gets less.
_PRICE_ROUNDING = {Side.BUY: ROUND_FLOOR, Side.SELL: ROUND_CEILING, None: ROUND_HALF_EVEN}


def round_price(price: Decimal, tick_size: Decimal, side: Side | None = None) -> Decimal:
    """Put a price on the tick: buys round down, sells up, no side to the nearest tick."""
    return price.quantize(tick_size.normalize(), rounding=_PRICE_ROUNDING[side], context=_CTX)


def round_size(config: GridConfig, price: Decimal) -> Decimal:
    """Base size of one level at an on-tick `price` (see `_size_lots` for the rounding)."""
    scale = _scale_of(config)
    ticks = price.scaleb(-scale.tick_exp)
    if ticks != ticks.to_integral_value() or ticks <= 0:
        raise ValueError("price: must be a positive price on the tick")
    return Decimal(_size_lots(scale, int(ticks))).scaleb(scale.lot_exp)


@dataclass(frozen=True)
class _Scale:
    """A config in integer units (ticks, lots, tick x lot quote units) for the hot loop."""

    tick_exp: int
    lot_exp: int
    step_ticks: int
    quote_mode: bool
    size_lots: int
    size_quote_units: int
    min_lots: int
    min_quote_units: int
    cap_units: Decimal | None


@lru_cache(maxsize=256)
def _scale_of(config: GridConfig) -> _Scale:
    tick_exp = _exponent(config.tick_size)
    lot_exp = _exponent(config.lot_size)
    unit_exp = -(tick_exp + lot_exp)  # quote -> units of one tick times one lot
    cap = config.max_position_notional
    return _Scale(
        tick_exp=tick_exp,
        lot_exp=lot_exp,
        step_ticks=int(config.step.scaleb(-tick_exp).to_integral_value(ROUND_FLOOR)),
        quote_mode=config.size_mode is SizeMode.QUOTE,
        size_lots=_whole(config.size.scaleb(-lot_exp), ROUND_FLOOR),
        size_quote_units=_whole(config.size.scaleb(unit_exp), ROUND_FLOOR),
        min_lots=max(1, _whole(config.min_base_amount.scaleb(-lot_exp), ROUND_CEILING)),
        min_quote_units=_whole(config.min_quote_amount.scaleb(unit_exp), ROUND_CEILING),
        cap_units=None if cap is None else cap.scaleb(unit_exp),
    )


def _exponent(power_of_ten: Decimal) -> int:
    exponent = power_of_ten.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite: validated by GridConfig
    return exponent


def _whole(value: Decimal, rounding: str) -> int:
    return int(value.to_integral_value(rounding=rounding))


def _size_lots(scale: _Scale, price_ticks: int) -> int:
    """Lots per level at a price in ticks.

    Quote mode converts the notional at that price. The size rounds down to the lot (never more
    than configured), then up to the exchange minimum (one lot, `min_base_amount`,
    `min_quote_amount` at this price) when below it, since a smaller order is rejected (21706).
    Integer floor/ceil of a quotient by a positive integer equals that of its floor/ceil, so the
    pre-rounded units in `_Scale` give the exact answer.
    """
    if scale.quote_mode:
        lots = scale.size_quote_units // price_ticks
    else:
        lots = scale.size_lots
    return max(lots, scale.min_lots, -(-scale.min_quote_units // price_ticks))


# --------------------------------------------------------------------------- lattice


@lru_cache(maxsize=4096)
def _growth(step: Decimal, k: int) -> Decimal:
    # Cached: a geometric window revisits the same few hundred powers on every event.
    return _CTX.power(_ONE + step, k)


@dataclass(frozen=True)
class Lattice:
    """The infinite ladder of grid levels around an on-tick `anchor` (level 0)."""

    anchor: Decimal
    config: GridConfig

    def __post_init__(self) -> None:
        _require_positive("anchor", self.anchor)
        if self.anchor % self.config.tick_size != 0:
            raise ValueError("anchor: must be on the tick")

    def raw_price(self, k: int) -> Decimal:
        """Exact lattice price of level `k` (geometric levels may fall between ticks)."""
        cfg = self.config
        if cfg.spacing is Spacing.ARITHMETIC:
            return self.anchor + k * cfg.step
        return _CTX.multiply(self.anchor, _growth(cfg.step, k))

    def price(self, k: int, side: Side | None = None) -> Decimal:
        """On-tick price of level `k`, rounded the way an order on `side` would be."""
        if self.config.spacing is Spacing.ARITHMETIC:
            return self.raw_price(k)  # on the tick already: anchor and step are whole ticks
        return round_price(self.raw_price(k), self.config.tick_size, side)

    def index_floor(self, price: Decimal) -> int:
        """Highest level whose raw price is at or below `price`."""
        _require_positive("price", price)
        cfg = self.config
        if cfg.spacing is Spacing.ARITHMETIC:
            estimate = _CTX.divide(price - self.anchor, cfg.step)
        else:
            estimate = _CTX.divide(
                _CTX.ln(_CTX.divide(price, self.anchor)), _CTX.ln(_ONE + cfg.step)
            )
        k = int(estimate.to_integral_value(rounding=ROUND_FLOOR))
        # The estimate is within one level; the exact comparison settles the boundary.
        while self.raw_price(k + 1) <= price:
            k += 1
        while self.raw_price(k) > price:
            k -= 1
        return k

    def index_ceil(self, price: Decimal) -> int:
        """Lowest level whose raw price is at or above `price`."""
        k = self.index_floor(price)
        return k if self.raw_price(k) == price else k + 1

    def index_nearest(self, price: Decimal) -> int:
        """Level whose raw price is nearest `price`; an exact tie goes to the lower level."""
        k = self.index_floor(price)
        if price - self.raw_price(k) <= self.raw_price(k + 1) - price:
            return k
        return k + 1
