"""Builders for bots rows used across the foundation tests (plain functions, real DB rows)."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from bots.models import ExchangeAccount, GridBot, HedgeBot, Market


def api_key_hex() -> str:
    """A fresh, well-formed (random) Lighter API private key: 0x + 80 hex chars."""
    return "0x" + secrets.token_hex(40)


def eth_key_hex() -> str:
    """A fresh, well-formed (random) ETH private key: 0x + 64 hex chars."""
    return "0x" + secrets.token_hex(32)


def make_account(**overrides: Any) -> ExchangeAccount:
    fields: dict[str, Any] = {
        "name": f"acct-{secrets.token_hex(3)}",
        "network": "paper",
        "account_index": 7,
        "api_key_index": 3,
    }
    fields.update(overrides)
    return ExchangeAccount.objects.create(**fields)


def make_market(**overrides: Any) -> Market:
    fields: dict[str, Any] = {
        "network": "paper",
        "market_id": 0,
        "symbol": "ETH",
        "size_decimals": 4,
        "price_decimals": 2,
        "min_base_amount": Decimal("0.0050"),
        "min_quote_amount": Decimal("10"),
        "max_leverage": Decimal("50"),
        "last_price": Decimal("4000"),
    }
    fields.update(overrides)
    return Market.objects.create(**fields)


def bot_fields(account: ExchangeAccount, market: Market, **overrides: Any) -> dict[str, Any]:
    """Valid GridBot field values (ETH at 4000: 0.01 ETH = 40 quote per level)."""
    fields: dict[str, Any] = {
        "name": f"grid-{secrets.token_hex(3)}",
        "account": account,
        "market": market,
        "spacing_mode": "arithmetic",
        "step": Decimal("10"),
        "levels_per_side": 5,
        "size_mode": "base",
        "size": Decimal("0.01"),
        "post_only": True,
        "max_open_orders": 10,
        "max_position_notional": Decimal("1000"),
        "leverage": Decimal("5"),
        "margin_mode": "cross",
    }
    fields.update(overrides)
    return fields


def make_bot(account: ExchangeAccount, market: Market, **overrides: Any) -> GridBot:
    bot = GridBot(**bot_fields(account, market, **overrides))
    bot.full_clean()
    bot.save()
    return bot


def make_user(username: str, *, role: str | None = None, staff: bool = True, **fields: Any) -> Any:
    """A user (staff by default) in the role group `role` (viewer, operator, admin) if given."""
    from django.contrib.auth.models import User

    user = User.objects.create_user(
        username, password="pw-for-tests-only", is_staff=staff, **fields
    )
    if role is not None:
        user.groups.add(role_group(role))
    return user


def role_group(role: str) -> Any:
    """The role's group; created again when a transactional test's flush removed the migration's."""
    from django.apps import apps
    from django.contrib.auth.models import Group

    from lighterweb.roles import groups_sync

    if not Group.objects.filter(name=role).exists():
        groups_sync(apps)
    return Group.objects.get(name=role)


def hedge_bot_fields(
    maker: ExchangeAccount, taker: ExchangeAccount, market: Market, **overrides: Any
) -> dict[str, Any]:
    """Valid HedgeBot field values (ETH at 4000: 0.01 ETH = 40 quote per cycle)."""
    fields: dict[str, Any] = {
        "name": f"hedge-{secrets.token_hex(3)}",
        "account": maker,
        "taker_account": taker,
        "market": market,
        "direction": "long",
        "size_mode": "base",
        "size": Decimal("0.01"),
        "hold_min_ms": 1_000,
    }
    fields.update(overrides)
    return fields


def make_hedge_bot(
    maker: ExchangeAccount, taker: ExchangeAccount, market: Market, **overrides: Any
) -> HedgeBot:
    bot = HedgeBot(**hedge_bot_fields(maker, taker, market, **overrides))
    bot.full_clean()
    bot.save()
    return bot
