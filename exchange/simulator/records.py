"""JSON rows of the venue's dataclasses (orders, trades, positions, txs, fundings) and accounts.

A block is `{"fields": [...], "rows": [[...], ...]}`: compact, and still readable by name after a
dataclass gains or loses a field (unknown names are skipped, missing ones take their default).
Money and other Decimals are strings, so nothing is lost to floats.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, TypeVar

from exchange.simulator.types import Account, ApiKey, Position

T = TypeVar("T")


class SnapshotError(ValueError):
    """A state file this simulator cannot restore (format, markets, or malformed content)."""


def rows(cls: type[Any], objects: Iterable[Any]) -> dict[str, Any]:
    """The block of `objects`, all instances of the dataclass `cls`."""
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    out = []
    for obj in objects:
        row = []
        for name in names:
            value = getattr(obj, name)
            row.append(str(value) if isinstance(value, Decimal) else value)
        out.append(row)
    return {"fields": names, "rows": out}


def objects(cls: type[T], block: dict[str, Any]) -> list[T]:
    """The instances of `cls` a block holds."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    names = block["fields"]
    out = []
    for row in block["rows"]:
        kwargs = {}
        for name, value in zip(names, row, strict=True):
            field = fields.get(name)
            if field is not None:
                kwargs[name] = Decimal(value) if field.type == "Decimal" else value
        out.append(cls(**kwargs))
    return out


def int_keys(data: dict[str, Any]) -> dict[int, Any]:
    """JSON object keys are strings; the venue's are ints (accounts, markets, key indexes)."""
    return {int(k): v for k, v in data.items()}


def account_json(account: Account) -> dict[str, Any]:
    """An account with its positions, API public keys, nonces and settings."""
    return {
        "index": account.index,
        "l1_address": account.l1_address,
        "collateral": str(account.collateral),
        "tier": account.tier,
        "created_at": account.created_at,
        "total_order_count": account.total_order_count,
        "is_system": account.is_system,
        "cancel_all_time": account.cancel_all_time,
        "nonces": {str(k): v for k, v in account.nonces.items()},
        "leverage": {str(k): v for k, v in account.leverage.items()},
        "margin_modes": {str(k): v for k, v in account.margin_modes.items()},
        "api_keys": {str(k): key.public_key_hex for k, key in account.api_keys.items()},
        "positions": rows(Position, account.positions.values()),
    }


def account_from(data: dict[str, Any]) -> Account:
    """The account `account_json` described."""
    index = int(data["index"])
    return Account(
        index=index,
        l1_address=str(data["l1_address"]),
        collateral=Decimal(data["collateral"]),
        tier=str(data["tier"]),
        positions={p.market_id: p for p in objects(Position, data["positions"])},
        api_keys={k: ApiKey(index, k, str(v)) for k, v in int_keys(data["api_keys"]).items()},
        nonces=int_keys(data["nonces"]),
        cancel_all_time=int(data["cancel_all_time"]),
        leverage=int_keys(data["leverage"]),
        margin_modes=int_keys(data["margin_modes"]),
        created_at=int(data["created_at"]),
        total_order_count=int(data["total_order_count"]),
        is_system=bool(data["is_system"]),
    )
