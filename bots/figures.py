"""Numbers people can read: prices and sizes to their market's decimals, money to cents, units.

The database stores every amount with 10 decimal places (`50.0000000000`) and PnL arithmetic
yields long tails (`-0.009977512462612164`); pages, admin columns and API figures go through
these helpers instead. Quote amounts are USDC on Lighter (6 decimals on the venue); pages show
cents, the API keeps the venue's 6 decimals (`QUOTE_DECIMALS`).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from bots.strategies.grid import tick_from_decimals

QUOTE_UNIT = "USDC"
QUOTE_DECIMALS = 6
CENT = Decimal("0.01")
SMALL_QUOTE = Decimal("0.000001")  # fees and funding: the venue's 6 decimals
NONE = "-"  # what an unknown figure shows


def base_unit(market: Any) -> str:
    """The base asset's name from the market symbol ("ETH", "BTC", "ETH-PERP" -> "ETH")."""
    return str(market.symbol).split("-")[0].split("/")[0]


def plain(value: Decimal | None) -> str:
    """A Decimal without trailing zeros or exponent notation (`50`, not `50.0000000000`)."""
    if value is None:
        return NONE
    return format(value.normalize(), "f") if value else "0"


def price(value: Decimal | None, market: Any, *, unit: bool = False) -> str:
    """`value` on the market's price decimals (`4030.00`), optionally with the quote unit."""
    if value is None:
        return NONE
    text = str(value.quantize(tick_from_decimals(market.price_decimals), ROUND_HALF_EVEN))
    return f"{text} {QUOTE_UNIT}" if unit else text


def size(value: Decimal | None, market: Any, *, unit: bool = False) -> str:
    """`value` on the market's size decimals (`0.0100`), optionally with the base unit."""
    if value is None:
        return NONE
    text = str(value.quantize(tick_from_decimals(market.size_decimals), ROUND_HALF_EVEN))
    return f"{text} {base_unit(market)}" if unit else text


def quote(value: Decimal | None, *, exact: Decimal = CENT, unit: bool = False) -> str:
    """A quote amount to cents (or `exact`), optionally with the unit (`-0.01 USDC`)."""
    if value is None:
        return NONE
    rounded = value.quantize(exact, ROUND_HALF_EVEN)
    if rounded == 0:
        rounded = abs(rounded)  # no "-0.00"
    return f"{rounded} {QUOTE_UNIT}" if unit else str(rounded)
