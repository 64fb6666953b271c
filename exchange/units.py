"""Decimal <-> integer ticks/lots for a Lighter market, and fixed-decimal formatting.

Lighter orders carry integers (`Price = price * 10**price_decimals`, `BaseAmount = size *
10**size_decimals`) while every payload returns decimal strings with exactly the market's decimals.
This module is the only place that scales between the two. It is pure and uses `Decimal` only.

Rounding direction lives in one helper, `round_price_ticks`: a buy price rounds DOWN and a sell
price rounds UP, so rounding never makes an order more aggressive than the caller asked for.
Sizes always round down, so rounding never makes an order bigger than the caller asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

USDC_DECIMALS = 6


class UnitsError(ValueError):
    """A value cannot be represented on the requested integer grid."""


def _scaled(value: Decimal, decimals: int) -> Decimal:
    if decimals < 0:
        raise UnitsError(f"decimals must be >= 0, got {decimals}")
    if not value.is_finite():
        raise UnitsError(f"not a finite number: {value}")
    return value.scaleb(decimals)


def to_int_exact(value: Decimal, decimals: int) -> int:
    """Scale `value` by 10**decimals; raise `UnitsError` if it is not on the grid."""
    scaled = _scaled(value, decimals)
    if scaled != scaled.to_integral_value():
        raise UnitsError(f"{value} has more than {decimals} decimals")
    return int(scaled)


def to_int_floor(value: Decimal, decimals: int) -> int:
    """Scale `value` by 10**decimals, rounding towards minus infinity."""
    return int(_scaled(value, decimals).to_integral_value(rounding=ROUND_FLOOR))


def to_int_ceil(value: Decimal, decimals: int) -> int:
    """Scale `value` by 10**decimals, rounding towards plus infinity."""
    return int(_scaled(value, decimals).to_integral_value(rounding=ROUND_CEILING))


def round_price_ticks(price: Decimal, price_decimals: int, *, is_ask: bool) -> int:
    """Price in ticks for an order side: buys round down, sells round up.

    Why: a rounded buy must never pay more, and a rounded sell never accept less, than asked.
    """
    if is_ask:
        return to_int_ceil(price, price_decimals)
    return to_int_floor(price, price_decimals)


def round_size_lots(size: Decimal, size_decimals: int) -> int:
    """Size in lots, rounded down so an order is never larger than requested."""
    if size < 0:
        raise UnitsError(f"size must be >= 0, got {size}")
    return to_int_floor(size, size_decimals)


def from_int(value: int, decimals: int) -> Decimal:
    """The exact Decimal of an integer scaled by 10**decimals (e.g. (236131, 2) -> 2361.31)."""
    return Decimal(value).scaleb(-decimals)


def format_fixed(value: int, decimals: int) -> str:
    """Format an integer of 10**-decimals units with exactly `decimals` decimals.

    (236131, 2) -> "2361.31"; (0, 4) -> "0.0000"; (-5, 2) -> "-0.05"; (7, 0) -> "7".
    """
    if decimals < 0:
        raise UnitsError(f"decimals must be >= 0, got {decimals}")
    sign = "-" if value < 0 else ""
    digits = str(abs(value))
    if decimals == 0:
        return sign + digits
    digits = digits.rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


def format_decimal(value: Decimal, decimals: int) -> str:
    """Format a Decimal with exactly `decimals` decimals; raise if that would lose precision."""
    return format_fixed(to_int_exact(value, decimals), decimals)


def quantize_down(value: Decimal, decimals: int) -> Decimal:
    """Round towards minus infinity onto a 10**-decimals grid."""
    return from_int(to_int_floor(value, decimals), decimals)


def quantize_up(value: Decimal, decimals: int) -> Decimal:
    """Round towards plus infinity onto a 10**-decimals grid."""
    return from_int(to_int_ceil(value, decimals), decimals)


def parse_fixed(text: str, decimals: int) -> int:
    """Parse a decimal string (as Lighter returns them) into integer units, exactly."""
    return to_int_exact(Decimal(text), decimals)


@dataclass(frozen=True, slots=True)
class MarketUnits:
    """The integer grid of one market: prices in ticks, sizes in lots, quote in USDC."""

    size_decimals: int
    price_decimals: int
    quote_decimals: int = USDC_DECIMALS

    def price_ticks(self, price: Decimal, *, is_ask: bool | None = None) -> int:
        """Ticks of `price`; exact when `is_ask` is None, else rounded for that side."""
        if is_ask is None:
            return to_int_exact(price, self.price_decimals)
        return round_price_ticks(price, self.price_decimals, is_ask=is_ask)

    def size_lots(self, size: Decimal, *, exact: bool = False) -> int:
        """Lots of `size`; rounded down unless `exact`."""
        if exact:
            return to_int_exact(size, self.size_decimals)
        return round_size_lots(size, self.size_decimals)

    def price(self, ticks: int) -> Decimal:
        """Decimal price of `ticks`."""
        return from_int(ticks, self.price_decimals)

    def size(self, lots: int) -> Decimal:
        """Decimal size of `lots`."""
        return from_int(lots, self.size_decimals)

    def quote(self, lots: int, ticks: int) -> Decimal:
        """Exact USDC notional of `lots` at `ticks` (lots * ticks on a 10**-(sd+pd) grid)."""
        return from_int(lots * ticks, self.size_decimals + self.price_decimals)

    def format_price(self, ticks: int) -> str:
        """Price string with exactly price_decimals decimals."""
        return format_fixed(ticks, self.price_decimals)

    def format_size(self, lots: int) -> str:
        """Size string with exactly size_decimals decimals."""
        return format_fixed(lots, self.size_decimals)

    def format_quote(self, amount: Decimal) -> str:
        """USDC string with exactly quote_decimals decimals (amount must be on that grid)."""
        return format_decimal(amount, self.quote_decimals)
