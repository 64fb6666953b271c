"""The hedge bot's configuration: one frozen dataclass, validated field by field.

Every check runs and all failures are collected, so a form or an API schema can show each field's
error at once: a bad config raises `HedgeConfigError`, whose `errors` map a field name to its
message. Sizes are in base units (the runner converts a quote notional before building this);
durations are milliseconds of the runner's clock, fixed or a `(min, max)` range drawn with the
seeded random generator the strategy is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Context, Decimal
from enum import StrEnum
from typing import Protocol

from bots.strategies.grid.config import Side
from bots.strategies.protocol import Leg

_ZERO = Decimal(0)
# One explicit context: results never depend on the caller's thread-local decimal context.
_CTX = Context(prec=40, rounding=ROUND_HALF_EVEN)
_BPS_LIMIT = Decimal(10_000)
# A bound, so a typo cannot make one hedge wait for hours between attempts.
MAX_HEDGE_ATTEMPTS = 100

# A duration in ms: fixed, or an inclusive (min, max) range drawn once per use.
DurationMs = int | tuple[int, int]


class Rng(Protocol):
    """What the strategy needs of a random generator (`random.Random(seed)` is one)."""

    def randint(self, a: int, b: int) -> int:
        """An integer drawn uniformly from `a..b`, both included."""
        ...


def draw_ms(duration: DurationMs, rng: Rng) -> int:
    """A fixed duration, or one drawn from its inclusive range."""
    if isinstance(duration, tuple):
        low, high = duration
        return rng.randint(low, high)
    return duration


class Direction(StrEnum):
    """Which way the maker leg A opens; B always takes the other side."""

    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        """+1 when A opens long, -1 when short."""
        return 1 if self is Direction.LONG else -1

    @property
    def open_side(self) -> Side:
        """The side of A's opening order."""
        return Side.BUY if self is Direction.LONG else Side.SELL


class PriceMode(StrEnum):
    """How A's maker price is chosen: the n-th price level of its side of the book, or an offset
    in basis points from the best price of its side (positive = further from the touch)."""

    LEVEL = "level"
    OFFSET_BPS = "offset_bps"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries of a hedge (and the spacing of repair attempts): at most `max_attempts`
    sends per hedge; after the k-th failure the next send waits
    `min(backoff_cap_ms, backoff_base_ms * 2**(k-1))`."""

    max_attempts: int = 5
    backoff_base_ms: int = 200
    backoff_cap_ms: int = 5_000

    def delay_ms(self, failures: int) -> int:
        """The wait before the next send after `failures` failed sends (>= 1)."""
        if failures < 1:
            return 0
        # The exponent is capped so a huge attempt count never builds a huge integer.
        delay: int = self.backoff_base_ms * 2 ** min(failures - 1, 32)
        return min(self.backoff_cap_ms, delay)


class HedgeConfigError(ValueError):
    """A config with invalid fields; `errors` maps each field name to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))


@dataclass(frozen=True, kw_only=True)
class HedgeConfig:
    """Everything that shapes one hedge bot (docs/hedge.md explains each field)."""

    leg_a: Leg
    leg_b: Leg
    direction: Direction
    size_base: Decimal
    tick_size: Decimal
    lot_size: Decimal
    min_base_amount: Decimal = _ZERO
    min_quote_amount: Decimal = _ZERO
    price_mode: PriceMode = PriceMode.LEVEL
    book_level: int = 1
    offset_bps: Decimal = _ZERO
    order_timeout_ms: int = 30_000
    hold_ms: DurationMs = 60_000
    cycles: int | None = None
    cooldown_ms: DurationMs = 0
    max_slippage_bps: Decimal = Decimal(50)
    imbalance_tolerance_base: Decimal = _ZERO
    stop_loss_quote: Decimal | None = None
    hedge_retry: RetryPolicy = field(default_factory=RetryPolicy)
    hedge_timeout_ms: int = 10_000
    repair_attempts: int = 3
    imbalance_grace_ms: int = 2_000

    def __post_init__(self) -> None:
        errors = config_errors(self)
        if errors:
            raise HedgeConfigError(errors)

    def min_order_base(self, price: Decimal) -> Decimal:
        """The smallest order the exchange takes at `price`: one lot, `min_base_amount`, and
        `min_quote_amount` converted at the price, rounded up to the lot."""
        lot = self.lot_size
        quote_base = _ZERO
        if price > 0 and self.min_quote_amount > 0:
            lots = _CTX.divide(self.min_quote_amount, price * lot)
            quote_base = lots.to_integral_value(rounding=ROUND_CEILING) * lot
        return max(lot, self.min_base_amount, quote_base)

    def lots_down(self, size_base: Decimal) -> Decimal:
        """`size_base` rounded down to the lot (never trade more than asked)."""
        return (size_base // self.lot_size) * self.lot_size


def config_errors(config: HedgeConfig) -> dict[str, str]:
    """Every invalid field of `config` with its message (empty when valid)."""
    errors: dict[str, str] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, float):
            errors[f.name] = "floats are not accepted, use Decimal"
        elif isinstance(value, Decimal) and not value.is_finite():
            errors[f.name] = "must be finite"
    if errors:
        return errors
    _check_legs(config, errors)
    _check_market(config, errors)
    _check_pricing(config, errors)
    _check_timing(config, errors)
    _check_risk(config, errors)
    return errors


def _check_legs(config: HedgeConfig, errors: dict[str, str]) -> None:
    if not isinstance(config.direction, Direction):
        errors["direction"] = f"unknown direction {config.direction!r}"
    if config.leg_a.account_id == config.leg_b.account_id:
        errors["leg_b"] = "the taker account must differ from the maker account"
    elif config.leg_a.market_id != config.leg_b.market_id:
        errors["leg_b"] = "both legs trade the same market"


def _check_market(config: HedgeConfig, errors: dict[str, str]) -> None:
    for name in ("tick_size", "lot_size"):
        value = getattr(config, name)
        if not isinstance(value, Decimal) or value <= 0:
            errors[name] = "must be a Decimal greater than zero"
        elif value.normalize().as_tuple().digits != (1,):
            errors[name] = "must be a power of ten (Lighter: 10**-decimals)"
    for name in ("min_base_amount", "min_quote_amount"):
        if getattr(config, name) < 0:
            errors[name] = "must not be negative"
    lot = config.lot_size
    size = config.size_base
    if size <= 0:
        errors["size_base"] = "must be greater than zero"
    elif "lot_size" not in errors and size % lot != 0:
        errors["size_base"] = f"must be a whole number of lots ({lot})"
    elif size < config.min_base_amount:
        errors["size_base"] = f"must be at least the market minimum {config.min_base_amount}"
    tolerance = config.imbalance_tolerance_base
    if tolerance < 0:
        errors["imbalance_tolerance_base"] = "must not be negative"
    elif "lot_size" not in errors and tolerance < config.min_base_amount - lot:
        # A smaller imbalance can be neither hedged nor repaired: orders below the minimum are
        # rejected (21706), so the bot would end in error over dust.
        errors["imbalance_tolerance_base"] = (
            f"must be at least min_base_amount - lot_size ({config.min_base_amount - lot}): "
            "smaller imbalances cannot be traded away"
        )


def _check_pricing(config: HedgeConfig, errors: dict[str, str]) -> None:
    if not isinstance(config.price_mode, PriceMode):
        errors["price_mode"] = f"unknown mode {config.price_mode!r}"
    if not _is_int(config.book_level) or config.book_level < 1:
        errors["book_level"] = "must be an integer >= 1 (1 = best bid/ask)"
    if not abs(config.offset_bps) < _BPS_LIMIT:
        errors["offset_bps"] = "must be between -10000 and 10000 (exclusive)"
    if not _ZERO <= config.max_slippage_bps < _BPS_LIMIT:
        errors["max_slippage_bps"] = "must be >= 0 and below 10000"


def _check_timing(config: HedgeConfig, errors: dict[str, str]) -> None:
    for name in ("order_timeout_ms", "hedge_timeout_ms"):
        if not _is_int(getattr(config, name)) or getattr(config, name) < 1:
            errors[name] = "must be an integer >= 1 (milliseconds)"
    if not _is_int(config.imbalance_grace_ms) or config.imbalance_grace_ms < 0:
        errors["imbalance_grace_ms"] = "must be an integer >= 0 (milliseconds)"
    for name in ("hold_ms", "cooldown_ms"):
        message = _duration_error(getattr(config, name))
        if message:
            errors[name] = message
    if config.cycles is not None and (not _is_int(config.cycles) or config.cycles < 1):
        errors["cycles"] = "must be an integer >= 1, or empty for unlimited"
    if not _is_int(config.repair_attempts) or config.repair_attempts < 1:
        errors["repair_attempts"] = "must be an integer >= 1"
    retry = config.hedge_retry
    if not _is_int(retry.max_attempts) or not 1 <= retry.max_attempts <= MAX_HEDGE_ATTEMPTS:
        errors["hedge_retry"] = f"max_attempts must be between 1 and {MAX_HEDGE_ATTEMPTS}"
    elif not _is_int(retry.backoff_base_ms) or retry.backoff_base_ms < 0:
        errors["hedge_retry"] = "backoff_base_ms must be an integer >= 0"
    elif not _is_int(retry.backoff_cap_ms) or retry.backoff_cap_ms < retry.backoff_base_ms:
        errors["hedge_retry"] = "backoff_cap_ms must be an integer >= backoff_base_ms"


def _check_risk(config: HedgeConfig, errors: dict[str, str]) -> None:
    if config.stop_loss_quote is not None and not (
        isinstance(config.stop_loss_quote, Decimal) and config.stop_loss_quote > 0
    ):
        errors["stop_loss_quote"] = "must be a loss in quote greater than zero, or empty"


def _duration_error(duration: object) -> str:
    if isinstance(duration, tuple):
        if len(duration) != 2 or not all(_is_int(part) for part in duration):
            return "must be milliseconds, or a (min, max) pair of milliseconds"
        low, high = duration
        if low < 0 or high < low:
            return "the range must satisfy 0 <= min <= max"
        return ""
    if not isinstance(duration, int) or isinstance(duration, bool) or duration < 0:
        return "must be an integer >= 0 (milliseconds)"
    return ""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
