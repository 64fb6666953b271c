"""Run as `python -m tests.bots.migration_bot_base` against an empty database (DATABASE_URL):
migrates to 0004, writes grid bots and what points to them, migrates to the latest and prints
what the rows look like then (JSON), for tests/bots/test_migration_bot_base.py."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import django

BEFORE = ("bots", "0011_pnl_snapshots")
STAMP = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _write_before(apps: Any) -> dict[str, int]:
    account = apps.get_model("bots", "ExchangeAccount").objects.create(
        name="main", network="paper", account_index=7, api_key_index=3
    )
    market = apps.get_model("bots", "Market").objects.create(
        network="paper",
        market_id=0,
        symbol="ETH",
        size_decimals=4,
        price_decimals=2,
        min_base_amount=Decimal("0.005"),
        min_quote_amount=Decimal("10"),
        max_leverage=Decimal("50"),
        last_price=Decimal("4000"),
    )
    grid = apps.get_model("bots", "GridBot")
    common = {
        "account": account,
        "market": market,
        "step": Decimal("10"),
        "size": Decimal("0.01"),
        "max_position_notional": Decimal("1000"),
    }
    first = grid.objects.create(name="first", **common)
    # A gap in the ids: the second keeps id 5, the next bot gets a fresh id past it.
    second = grid.objects.create(
        id=5,
        name="second",
        desired_state="running",
        status="running",
        lease_fence=42,
        centre_index=3,
        anchor_price=Decimal("3999.5"),
        status_message="ok",
        **common,
    )
    grid.objects.filter(pk=second.pk).update(created_at=STAMP, heartbeat_at=STAMP)
    order = apps.get_model("bots", "Order").objects.create(
        bot=second,
        account=account,
        market=market,
        client_order_index=11,
        side="buy",
        price=Decimal("3990"),
        size_base=Decimal("0.01"),
        status="open",
    )
    apps.get_model("bots", "Fill").objects.create(
        bot=second,
        account=account,
        market=market,
        order=order,
        trade_id=21,
        side="buy",
        price=Decimal("3990"),
        size_base=Decimal("0.01"),
        is_maker=True,
        executed_at=STAMP,
    )
    apps.get_model("bots", "FundingPayment").objects.create(
        bot=second,
        account=account,
        market=market,
        funding_id=31,
        amount=Decimal("-0.1"),
        rate=Decimal("0.0001"),
        paid_at=STAMP,
    )
    apps.get_model("bots", "BotEvent").objects.create(bot=first, kind="note", message="hello")
    apps.get_model("bots", "PositionTransfer").objects.create(
        bot=second, account=account, market=market, size_base=Decimal("0.02"),
        price=Decimal("3990"),
    )  # fmt: skip
    channel = apps.get_model("bots", "NotificationChannel").objects.create(name="ops")
    channel.bots.add(second)
    return {"first": first.pk, "second": second.pk, "account": account.pk, "market": market.pk}


def _read_after(ids: dict[str, int]) -> dict[str, Any]:
    from bots.models import (
        Bot,
        BotEvent,
        Fill,
        FundingPayment,
        GridBot,
        NotificationChannel,
        Order,
        PositionTransfer,
    )

    second = GridBot.objects.get(pk=ids["second"])
    third = GridBot.objects.create(
        name="third",
        account_id=ids["account"],
        market_id=ids["market"],
        step=Decimal("10"),
        size=Decimal("0.01"),
        max_position_notional=Decimal("1000"),
    )
    return {
        "ids": ids,
        "bots": sorted(Bot.objects.values_list("pk", "name")),
        "grids": sorted(GridBot.objects.values_list("pk", "name")),
        "second": {
            "desired_state": second.desired_state,
            "status": second.status,
            "lease_fence": second.lease_fence,
            "centre_index": second.centre_index,
            "anchor_price": str(second.anchor_price),
            "status_message": second.status_message,
            "created_at": second.created_at.isoformat(),
            "heartbeat_at": second.heartbeat_at and second.heartbeat_at.isoformat(),
            "account": second.account_id,
            "market": second.market_id,
        },
        "order_bot": Order.objects.get().bot_id,
        "fill_bot": Fill.objects.get().bot_id,
        "funding_bot": FundingPayment.objects.get().bot_id,
        "event_bot": BotEvent.objects.get().bot_id,
        "transfer_bot": PositionTransfer.objects.get().bot_id,
        "channel_bots": list(NotificationChannel.objects.get().bots.values_list("pk", flat=True)),
        "third": third.pk,
        "stamp": STAMP.isoformat(),
        "dangling": _dangling_foreign_keys(),
    }


def _dangling_foreign_keys() -> list[str]:
    """Foreign keys whose target column is gone or that a row violates (should be none)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA foreign_key_check")
            return [str(row) for row in cursor.fetchall()]
        # PostgreSQL: every reference to a bot is enforced by a constraint on its table.
        cursor.execute(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND confrelid IN ('bots_bot'::regclass, 'bots_gridbot'::regclass)"
        )
        enforced = {(row[0], row[1]) for row in cursor.fetchall()}
    to_grid = {"bots_backtest", "bots_backtestsweep", "bots_pnlsnapshot"}
    # (a position transfer may name any bot since 0015_transfer_any_bot: a hedge leg too)
    to_bot = {"bots_order", "bots_fill", "bots_fundingpayment", "bots_botevent",
              "bots_notificationchannel_bots", "bots_gridbot", "bots_positiontransfer"}  # fmt: skip
    expected = {(t, "bots_gridbot") for t in to_grid} | {(t, "bots_bot") for t in to_bot}
    return sorted(str(pair) for pair in expected - enforced)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lighterweb.settings")
    django.setup()
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    ids = _write_before(executor.loader.project_state([BEFORE]).apps)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    print(json.dumps(_read_after(ids)))


if __name__ == "__main__":
    main()
