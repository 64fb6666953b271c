"""Validation rules for exchange accounts and grid bots.

Each rule is a small function that returns field errors (`{field: message}`) instead of raising,
so model `clean()` methods can collect every problem at once and the admin shows them next to the
fields. Inputs are plain values (Decimal, int, str) so the rules are testable without a database.
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal

from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables

MIN_LEVELS = 1
MAX_LEVELS = 50
# Lighter API keys are 40-byte private keys; ETH (L1) keys are 32 bytes. Both hex, optional 0x.
API_PRIVATE_KEY_HEX_CHARS = 80
ETH_PRIVATE_KEY_HEX_CHARS = 64
L1_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
MAX_API_KEY_INDEX = 254

FieldErrors = dict[str, str]


@sensitive_variables()
def _hex_key_error(value: str, hex_chars: int, what: str) -> str | None:
    body = value[2:] if value[:2].lower() == "0x" else value
    if len(body) != hex_chars or not all(c in "0123456789abcdefABCDEF" for c in body):
        # Never echo the value: it is a secret.
        return f"{what} must be {hex_chars} hexadecimal characters (optionally prefixed by 0x)."
    return None


@sensitive_variables()
def validate_api_private_key(value: str) -> None:
    """Raise ValidationError unless `value` looks like a Lighter API private key (40 bytes hex)."""
    error = _hex_key_error(value, API_PRIVATE_KEY_HEX_CHARS, "An API private key")
    if error:
        raise ValidationError(error, code="invalid_api_private_key")


@sensitive_variables()
def validate_eth_private_key(value: str) -> None:
    """Raise ValidationError unless `value` looks like an Ethereum private key (32 bytes hex)."""
    error = _hex_key_error(value, ETH_PRIVATE_KEY_HEX_CHARS, "An ETH private key")
    if error:
        raise ValidationError(error, code="invalid_eth_private_key")


def validate_l1_address(value: str) -> None:
    """Raise ValidationError unless `value` is a 0x-prefixed 20-byte hex address."""
    if not L1_ADDRESS_RE.match(value):
        raise ValidationError(
            "An L1 address is 0x followed by 40 hexadecimal characters.", code="invalid_l1"
        )


def grid_shape_errors(step: Decimal | None, levels: int | None) -> FieldErrors:
    """Step strictly positive; 1 <= levels per side <= 50."""
    errors: FieldErrors = {}
    if step is not None and step <= 0:
        errors["step"] = "The step must be greater than zero."
    if levels is not None and not MIN_LEVELS <= levels <= MAX_LEVELS:
        errors["levels_per_side"] = (
            f"Levels per side must be between {MIN_LEVELS} and {MAX_LEVELS}."
        )
    return errors


def level_price_errors(
    *, arithmetic: bool, step: Decimal | None, levels: int | None, last_price: Decimal | None
) -> FieldErrors:
    """An arithmetic grid around the market's price must keep its lowest buy above zero (a
    geometric one always does); the exchange refuses an order at a price <= 0."""
    if not arithmetic or step is None or levels is None or not last_price or step <= 0:
        return {}
    lowest = last_price - step * levels
    if lowest > 0:
        return {}
    below = (last_price / levels).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
    return {
        "step": (
            f"With a step of {_plain(step)} and {levels} levels per side around the current "
            f"price {_plain(last_price)}, the lowest buy would sit at {_plain(lowest)} (<= 0). "
            f"Use a step below {_plain(below)} or fewer levels."
        )
    }


def max_open_orders_errors(max_open_orders: int | None, levels: int | None) -> FieldErrors:
    """A full grid has 2 x levels resting orders; a cap below that could never be met."""
    if max_open_orders is None or levels is None:
        return {}
    if max_open_orders < 2 * levels:
        return {
            "max_open_orders": (
                f"Max open orders must be at least 2 x levels per side ({2 * levels})."
            )
        }
    return {}


def order_size_errors(
    *,
    size_mode: str,
    size: Decimal | None,
    min_base_amount: Decimal,
    min_quote_amount: Decimal,
    last_price: Decimal | None,
) -> FieldErrors:
    """Per-level size meets the market minimums (base and quote) at the last known price.

    `size_mode` is "base" (size in base units) or "quote" (size is a quote notional). Without a
    known price only the minimum in the size's own unit can be checked.
    """
    if size is None:
        return {}
    if size <= 0:
        return {"size": "The size must be greater than zero."}
    base: Decimal | None
    quote: Decimal | None
    if size_mode == "base":
        base, quote = size, (size * last_price if last_price else None)
    else:
        quote, base = size, (size / last_price if last_price else None)
    min_base, min_quote = _plain(min_base_amount), _plain(min_quote_amount)
    if base is not None and base < min_base_amount:
        if size_mode == "quote" and last_price:
            # The operator typed a quote notional: say what it must be, in quote.
            needed = _plain(max(min_base_amount * last_price, min_quote_amount))
            return {
                "size": (
                    f"Each order must be worth at least {needed} quote at the last price "
                    f"{_plain(last_price)} (the market minimum is {min_base} base)."
                )
            }
        return {"size": f"Each order must be at least {min_base} in base units."}
    if quote is not None and quote < min_quote_amount:
        where = (
            f" at the last price {_plain(last_price)}" if last_price and size_mode == "base" else ""
        )
        return {"size": f"Each order must be worth at least {min_quote} quote{where}."}
    return {}


def _plain(value: Decimal) -> str:
    """A Decimal without the database's trailing zeros or exponent notation (50, not 50.0000)."""
    return format(value.normalize(), "f") if value else "0"


def leverage_errors(leverage: Decimal | None, max_leverage: Decimal | None) -> FieldErrors:
    """1 <= leverage <= the market's maximum (when the market's maximum is known)."""
    if leverage is None:
        return {}
    if leverage < 1:
        return {"leverage": "Leverage must be at least 1."}
    if max_leverage is not None and leverage > max_leverage:
        return {"leverage": f"Leverage must not exceed the market maximum of {max_leverage}x."}
    return {}


def exit_price_errors(
    stop_loss_price: Decimal | None, take_profit_price: Decimal | None
) -> FieldErrors:
    """Optional stop-loss / take-profit prices are positive and the stop is below the target."""
    errors: FieldErrors = {}
    if stop_loss_price is not None and stop_loss_price <= 0:
        errors["stop_loss_price"] = "The stop-loss price must be greater than zero."
    if take_profit_price is not None and take_profit_price <= 0:
        errors["take_profit_price"] = "The take-profit price must be greater than zero."
    if (
        not errors
        and stop_loss_price is not None
        and take_profit_price is not None
        and stop_loss_price >= take_profit_price
    ):
        errors["take_profit_price"] = "The take-profit price must be above the stop-loss price."
    return errors


def positive_errors(field: str, value: Decimal | None) -> FieldErrors:
    """`value`, when set, is strictly positive."""
    if value is not None and value <= 0:
        return {field: "This value must be greater than zero."}
    return {}
