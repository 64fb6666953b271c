"""The runner's records of what the exchange reported: order reports, fills, funding payments.

Fenced writes like every runner write (`bots.engine.recording`). A burst of stream events is
recorded in one transaction (`burst_record`) after the runner has acted on it in memory, so a
fill's replenish order never waits for this bookkeeping.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field
from django.utils import timezone

from bots.dashboard import broadcast
from bots.engine import inserts, selects, session_log
from bots.engine.recording import (
    SentBatch,
    connection,
    event_new,
    events_create,
    fenced,
    in_fenced,
    lock_fenced,
    market_indexes_mine,
    orders_sent,
)
from bots.models import Bot, BotEvent, Fill, FundingPayment, Order
from bots.strategies import accounting
from bots.strategies.orders import (
    OrderStatus as Status,
)
from bots.strategies.orders import (
    OrderTransitionError,
    is_active,
    report_event,
    transition,
)
from exchange.types import FillInfo, LiquidityRole, OrderInfo
from exchange.types import FundingPayment as FundingInfo

FEE_RATE_SCALE = Decimal(1_000_000)  # Lighter fee rates are in millionths
# Lighter charges fees on the USDC grid (6 decimals), rounded up in its own favour.
USDC_QUANTUM = Decimal("0.000001")


def status_of(info: OrderInfo) -> str:
    """The status a working order takes on this exchange report (`bots.strategies.orders`)."""
    return transition(Status.PENDING, report_event(info.status, info.is_active, info.filled_size))


def orders_report(
    bot: Bot, fence: int, infos: Iterable[OrderInfo], rows: dict[int, Order] | None = None
) -> list[Order]:
    """Apply exchange order reports to this bot's rows; returns the rows that changed.

    Reports of orders that are not this bot's (other bots on the account, foreign orders) are
    ignored here; recovery reports foreign ones. `rows`: the bot's rows by client index, read
    already in this transaction (`burst_record`), else they are read here.
    """
    by_index = {info.client_order_index: info for info in infos}
    if not by_index:
        return []
    changed: list[Order] = []
    now = timezone.now()
    with in_fenced(bot.pk, fence):
        lock_fenced(bot.pk, fence)
        if rows is None:
            rows = _rows_by_index(bot, by_index)
        for row in [r for index, r in rows.items() if index in by_index]:
            info = by_index[row.client_order_index]
            event = report_event(info.status, info.is_active, info.filled_size)
            try:
                status = transition(row.status, event)
            except OrderTransitionError:
                continue  # a stale report of an order that already ended: it never moves back
            if (row.status, row.filled_base, row.order_index) == (
                status,
                info.filled_size,
                info.order_index,
            ):
                continue
            row.status = status
            row.order_index = info.order_index or row.order_index
            row.filled_base = max(row.filled_base, info.filled_size)
            row.exchange_status = info.status
            if status in (Status.CANCELED, Status.REJECTED):
                row.reason = info.status
            if not is_active(status):
                row.resolved_at = now
            row.updated_at = now
            broadcast.order_changed(row)
            changed.append(row)
        _reported_save(changed)
    return changed


# The columns an exchange report moves.
_REPORTED: tuple[Field[Any, Any], ...] = tuple(
    Order._meta.get_field(name)  # type: ignore[misc]
    for name in (
        "status", "order_index", "filled_base", "exchange_status", "reason", "resolved_at",
        "updated_at",
    )
)  # fmt: skip


def _reported_save(rows: list[Order]) -> None:
    """Write the reported columns of `rows`: one UPDATE statement run for every row
    (`executemany`), instead of an ORM update per row (the busiest write of a runner: every
    order's open, fill and cancel)."""
    if not rows:
        return
    conn = connection()
    name = conn.ops.quote_name
    columns = ", ".join(f"{name(str(field.column))} = %s" for field in _REPORTED)
    table, key = name(Order._meta.db_table), name(str(Order._meta.pk.column))
    # Only the model's own table and column names go into the text; every value is a parameter.
    sql = f"UPDATE {table} SET {columns} WHERE {key} = %s"  # noqa: S608
    params = [
        [field.get_db_prep_save(getattr(row, field.attname), conn) for field in _REPORTED]
        + [row.pk]
        for row in rows
    ]
    with conn.cursor() as cursor:
        cursor.executemany(sql, params)


def _rows_by_index(bot: Bot, indexes: Iterable[int]) -> dict[int, Order]:
    """The bot's Order rows with these client indexes (one query), newest first, each carrying
    the bot's cached market (pushes read its symbol).

    Plain SQL (`selects`: the columns still converted as the ORM converts them): every burst
    record reads its rows here, and building the ORM query (or `raw()`'s per-query setup) cost
    more Python than the rest of the read.
    """
    wanted = list(indexes)
    if not wanted:
        return {}
    conn = connection()
    found: dict[int, Order] = {}
    for row in selects.select(conn, Order, _rows_sql(conn, len(wanted)), [bot.pk, *wanted]):
        if row.market_id == bot.market_id:
            row.market = bot.market
        found[row.client_order_index] = row
    return found


def _rows_sql(connection: BaseDatabaseWrapper, count: int) -> str:
    """`Order.objects.filter(bot=..., client_order_index__in=[count indexes])` as SQL: every
    column, the model's ordering (newest first)."""
    name = connection.ops.quote_name
    column = _columns(Order, connection)
    bot, index, created = column["bot"], column["client_order_index"], column["created_at"]
    marks, table = ", ".join(["%s"] * count), name(Order._meta.db_table)
    # Only the model's own table and column names go into the text; every value is a parameter.
    return (
        f"SELECT {selects.columns(Order, connection)} FROM {table} "  # noqa: S608
        f"WHERE {bot} = %s AND {index} IN ({marks}) ORDER BY {created} DESC"
    )


def fee_of(info: FillInfo) -> Decimal:
    """Quote fee of a fill (positive when paid) from Lighter's rate in millionths."""
    fee = info.quote * Decimal(info.fee_rate_e6) / FEE_RATE_SCALE
    return fee.quantize(USDC_QUANTUM, rounding=ROUND_CEILING)


def ledger_fill(info: FillInfo, level: int | None) -> accounting.Fill:
    """An exchange fill as the accounting core books it (`level`: its order's grid level)."""
    fee, is_maker = fee_of(info), info.role is LiquidityRole.MAKER
    return accounting.Fill(
        info.trade_id, str(info.side), info.price, info.size, fee, is_maker, level
    )


def fill_row(
    bot: Bot,
    account_id: int,
    info: FillInfo,
    booked: accounting.Fill,
    order: Order | None = None,
    round_trip_id: int | None = None,
) -> Fill:
    """The Fill row (unsaved) of a fill of the bot on `account_id`, as the ledger booked it."""
    return Fill(
        account_id=account_id,
        market=bot.market,
        order=order,
        bot=bot,
        trade_id=info.trade_id,
        side=booked.side,
        price=booked.price,
        size_base=booked.size_base,
        fee=booked.fee,
        is_maker=booked.is_maker,
        level_index=booked.level,
        round_trip_id=round_trip_id,
        executed_at=datetime.fromtimestamp(info.timestamp_ms / 1000, tz=UTC),
    )


class VenueChanged(Exception):
    """The exchange contradicts what it told us before (a trade id we recorded with other
    details, resting orders it no longer knows, a position that moved with no fill of ours):
    a reset venue, a manual trade or a liquidation. The bot must stop placing."""


def _contradicted(
    stored: dict[int, tuple[str, Decimal, Decimal]], infos: list[FillInfo]
) -> list[str]:
    """Reported fills whose trade id we recorded with other side, price or size."""
    return [
        f"trade {info.trade_id}: recorded {stored[info.trade_id][0]} "
        f"{stored[info.trade_id][2]} @ {stored[info.trade_id][1]}, now reported "
        f"{info.side} {info.size} @ {info.price}"
        for info in infos
        if info.trade_id in stored
        and stored[info.trade_id] != (str(info.side), info.price, info.size)
    ]


def _columns(model: type[Order] | type[Fill], connection: BaseDatabaseWrapper) -> dict[str, str]:
    """The model's quoted column names by field name, in the model's order."""
    name = connection.ops.quote_name
    return {field.name: name(str(field.column)) for field in model._meta.concrete_fields}


_STORED = ("trade_id", "side", "price", "size_base")


def _stored_trades(bot: Bot, infos: list[FillInfo]) -> dict[int, tuple[str, Decimal, Decimal]]:
    """Side, price and size of the trades among `infos` already recorded for the account (plain
    SQL through `selects`, like `_rows_by_index`: every fill's record asks)."""
    conn = connection()
    column = _columns(Fill, conn)
    marks = ", ".join(["%s"] * len(infos))
    # Only the model's own table and column names go into the text; every value is a parameter.
    sql = (
        f"SELECT {', '.join(column[f] for f in _STORED)} "  # noqa: S608
        f"FROM {conn.ops.quote_name(Fill._meta.db_table)} "
        f"WHERE {column['account']} = %s AND {column['trade_id']} IN ({marks})"
    )
    rows = selects.values(conn, Fill, _STORED, sql, [bot.account_id, *(f.trade_id for f in infos)])
    return {trade: (side, price, size) for trade, side, price, size in rows}


# The fields of Fill's unique constraint "fill_trade_id_unique" (one row per trade and account).
_FILL_UNIQUE = ("account", "trade_id")


def fills_record(
    bot: Bot,
    fence: int,
    infos: Iterable[FillInfo],
    ledger: accounting.Ledger,
    rows: dict[int, Order] | None = None,
    events: list[BotEvent] | None = None,
) -> list[Fill]:
    """Record this bot's fills exactly once (unique trade id per account); returns the new ones.

    A fill belongs to the bot when its client index is one of the bot's orders on its market.
    New fills are booked, oldest first, in `ledger` (the runner's books, loaded at startup by
    `selectors.bot_ledger`), which names the round trip each one belongs to. `rows`: the bot's
    rows by client index, read already in this transaction (`burst_record`); `events`: where to
    append the fills' BotEvents for the caller to insert (else they are inserted here).

    The new fills are inserted by one plain-SQL statement (`inserts`) that skips a trade id the
    account already has (`ON CONFLICT DO NOTHING`): another runner of the account may record
    the same trade between our read and our insert, and then it is neither returned nor
    pushed here (it is booked in `ledger` all the same, as the fill is the bot's).
    """
    candidates = [f for f in infos if f.market_id == bot.market.market_id]
    if not candidates:
        return []
    created: list[Fill] = []
    own_events = events is None
    events = [] if events is None else events
    with in_fenced(bot.pk, fence):
        lock_fenced(bot.pk, fence)
        stored = _stored_trades(bot, candidates)
        contradicted = _contradicted(stored, candidates)
        if contradicted:
            # Raised before anything is written: the caller's transaction records nothing of it.
            raise VenueChanged("; ".join(contradicted[:3]))
        orders = (
            rows
            if rows is not None
            else _rows_by_index(bot, {f.client_order_index for f in candidates})
        )
        known = set(stored)
        unmatched = [f.client_order_index for f in candidates if f.client_order_index not in orders]
        # A risk exit's flatten, a hedge's repair or close: the bot's though no Order row names it.
        market = market_indexes_mine(bot.pk, bot.account_id, unmatched)
        new: list[Fill] = []
        for info in sorted(candidates, key=lambda f: (f.timestamp_ms, f.trade_id)):
            order = orders.get(info.client_order_index)
            if info.trade_id in known or (order is None and info.client_order_index not in market):
                continue
            known.add(info.trade_id)
            booked = ledger_fill(info, order.level_index if order is not None else None)
            ledger.apply_fill(booked)
            round_trip = ledger.round_trip_of(info.trade_id)
            new.append(fill_row(bot, bot.account_id, info, booked, order, round_trip))
        # One INSERT for all of them. A trade another runner of the account recorded between
        # our read and this insert is skipped by the unique constraint (not returned).
        for fill in inserts.insert(connection(), new, skip_conflicts_on=_FILL_UNIQUE):
            broadcast.fill_recorded(fill)
            events.append(
                event_new(
                    bot,
                    "fill",
                    f"{fill.side} {fill.size_base} @ {fill.price} "
                    + ("(market order)" if fill.order is None else f"(level {fill.level_index})"),
                    {"trade_id": fill.trade_id, "level_index": fill.level_index},
                )
            )
            created.append(fill)
        if own_events:
            events_create(bot, events)
    return created


def funding_record(bot: Bot, fence: int, payments: Iterable[FundingInfo]) -> int:
    """Record funding payments of the bot's market once (unique per account); returns new count."""
    count = 0
    with in_fenced(bot.pk, fence):
        lock_fenced(bot.pk, fence)
        for payment in payments:
            if payment.market_id != bot.market.market_id:
                continue
            _, created = FundingPayment.objects.get_or_create(
                account_id=bot.account_id,
                funding_id=payment.funding_id,
                defaults={
                    "market_id": bot.market_id,
                    "bot": bot,
                    "amount": payment.change,
                    "rate": payment.rate,
                    "position_size_base": payment.position_size,
                    "paid_at": datetime.fromtimestamp(payment.timestamp_s, tz=UTC),
                },
            )
            count += created
    return count


def burst_record(
    bot: Bot,
    fence: int,
    orders: list[OrderInfo],
    fills: list[FillInfo],
    payments: list[FundingInfo],
    ledger: accounting.Ledger,
    sent: list[SentBatch],
    log: session_log.Pending | None = None,
) -> tuple[list[Order], list[Fill]]:
    """The batches sent since the last record, then the order reports, fills and funding of
    one burst of events, and the core's session log since the last record, in one transaction.

    The rows all of them touch are read once, at its start. Returns the order rows that changed
    and the fills recorded for the first time.
    """
    with fenced(bot.pk, fence):
        indexes = {r.client_order_index for batch in sent for r in batch.rows}
        indexes.update(info.client_order_index for info in orders)
        indexes.update(f.client_order_index for f in fills if f.market_id == bot.market.market_id)
        rows = _rows_by_index(bot, indexes) if indexes else {}
        # The plans' and the fills' events, inserted together at the end.
        events: list[BotEvent] = []
        for batch in sent:
            orders_sent(bot, fence, batch, rows, events)
        changed = orders_report(bot, fence, orders, rows) if orders else []
        new = fills_record(bot, fence, fills, ledger, rows, events) if fills else []
        if payments:
            funding_record(bot, fence, payments)
        events_create(bot, events)
        session_log.write(bot, log, connection())
    return changed, new
