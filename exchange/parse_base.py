"""Readers of Lighter's JSON primitives: decimal strings, ints, null lists, channel names.

Lighter omits zero/empty fields and sends `null` lists, so every reader tolerates missing keys.
Decimal strings become `Decimal` exactly; JSON floats go through `repr`, so no binary-float
noise enters an amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

Json = Mapping[str, Any]


class ParseError(ValueError):
    """A payload that cannot be read as the expected Lighter shape."""


def dec(value: Any, default: Decimal = Decimal(0)) -> Decimal:
    """A Decimal from a Lighter decimal string, int or JSON float; `default` when empty/absent."""
    if value is None or value == "":
        return default
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ParseError(f"expected a number, got {value!r}")
    if isinstance(value, float):
        # repr gives the shortest string that round-trips, i.e. what the server printed.
        return Decimal(repr(value))
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ParseError(f"not a decimal: {value!r}") from exc


def dec_or_none(value: Any) -> Decimal | None:
    """Like `dec`, but None for an empty/absent value (e.g. no last trade yet)."""
    if value is None or value == "":
        return None
    return dec(value)


def to_int(value: Any, default: int = 0) -> int:
    """An int from a JSON int or numeric string; `default` when empty/absent."""
    if value is None or value == "":
        return default
    return int(value)


def as_list(payload: Json, key: str) -> list[Any]:
    """`payload[key]` as a list; Lighter sends null or omits empty lists."""
    value = payload.get(key)
    return list(value) if value else []


def channel_parts(frame: Json) -> list[str]:
    """`"order_book:0"` -> `["order_book", "0"]` (server frames use `:`)."""
    return str(frame.get("channel", "")).split(":")
