"""The runner's database writes: order intents, sent batches, events, run state (what the
exchange reported — orders, fills, funding — is recorded by `bots.engine.reports`).

Every write is fenced (design decision 4): it happens only while `Bot.lease_fence` still
equals the fence the runner was started with, checked on the locked bot row inside the same
transaction, else `LeaseLost` is raised and nothing is written. A runner that lost its lease to
a newer one therefore cannot overwrite the newer one's state.

Functions here are synchronous (Django ORM; plain SQL for the writes of every fill: the
intents' rows through `bots.engine.inserts`, the run-state UPDATE); the async runner calls
them through `db()`, on the bot's own DB thread (`own_db_thread`). Each write is followed by
the matching `bots.dashboard.broadcast` push (deferred to the commit by broadcast itself).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from bots.dashboard import broadcast
from bots.engine import inserts
from bots.models import (
    Bot,
    BotEvent,
    EventLevel,
    ExchangeAccount,
    GridBot,
    MarketOrderIndexes,
    Order,
    OrderStatus,
)
from bots.strategies.grid import DesiredOrder
from bots.strategies.orders import ACTIVE, OrderEvent, transition

logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another runner holds the bot now (its fence is newer): stop without touching anything."""


# The (bot, fence) whose row this thread locked for the transaction of `fenced()`, if any, and
# that transaction's connection.
_fenced_here = threading.local()


@contextlib.contextmanager
def fenced(bot_id: int, fence: int) -> Iterator[None]:
    """One transaction for several fenced writes: the fence is checked and the bot row locked
    once, at its start; the writes inside skip their own check (and their savepoints, see
    `in_fenced`) and use the connection looked up here (`connection`)."""
    with transaction.atomic():
        lock_fenced(bot_id, fence)
        _fenced_here.key = (bot_id, fence)
        _fenced_here.connection = transaction.get_connection()
        try:
            yield
        finally:
            _fenced_here.key = None
            _fenced_here.connection = None


def connection() -> BaseDatabaseWrapper:
    """The default connection: inside `fenced()` the one it looked up (`connections[...]` goes
    through asgiref's context-local storage, a measurable cost on a fill's path), else looked
    up now."""
    found: BaseDatabaseWrapper | None = getattr(_fenced_here, "connection", None)
    return found if found is not None else transaction.get_connection()


def in_fenced(bot_id: int, fence: int) -> contextlib.AbstractContextManager[Any]:
    """The transaction block of one fenced write: nothing more inside `fenced()` of the same
    bot and fence (its transaction is the write's; an `atomic(savepoint=False)` would only add
    its bookkeeping, as nothing inside `fenced()` catches a write's exception and goes on),
    else `atomic(savepoint=False)` (the caller's transaction, or a new one)."""
    if getattr(_fenced_here, "key", None) == (bot_id, fence):
        return contextlib.nullcontext()
    return transaction.atomic(savepoint=False)


_BOT_COLUMNS = frozenset(f.name for f in Bot._meta.concrete_fields)


def lock_fenced(bot_id: int, fence: int) -> None:
    """Check the fence on the locked bot row (inside the caller's transaction), or LeaseLost."""
    if getattr(_fenced_here, "key", None) == (bot_id, fence):
        return  # inside `fenced()`: checked and locked at its start, in this same transaction
    conn = transaction.get_connection()
    if not conn.in_atomic_block:
        raise TransactionManagementError("lock_fenced runs inside the caller's transaction")
    # Locking the bot row serialises this write against a new holder's fence UPDATE. Plain SQL:
    # every runner transaction starts here, and the ORM spent ~0.3 ms of Python building it.
    with conn.cursor() as cursor:
        cursor.execute(_fence_sql(conn), [bot_id, fence])
        found = cursor.fetchone()
    if found is None:
        raise LeaseLost(f"bot {bot_id}: lease fence {fence} is no longer current")


def _fence_sql(connection: BaseDatabaseWrapper) -> str:
    name = connection.ops.quote_name
    key = name(str(Bot._meta.pk.column))
    fence = name(str(Bot._meta.get_field("lease_fence").column))
    # Only the model's own table and column names go into the text; the values are parameters.
    sql = f"SELECT {key} FROM {name(Bot._meta.db_table)} WHERE {key} = %s AND {fence} = %s"  # noqa: S608
    if connection.features.has_select_for_update:
        sql += " " + connection.ops.for_update_sql()
    return sql


def bot_update(bot: Bot, fence: int, **fields: Any) -> None:
    """Write run-state fields of the bot (status, centre, heartbeat...), fenced; push it."""
    with transaction.atomic():
        # Bot's own table for its columns, a grid's table for the grid's (run state).
        model = Bot if set(fields) <= _BOT_COLUMNS else type(bot)
        updated = model.objects.filter(pk=bot.pk, lease_fence=fence).update(**fields)
        if not updated:
            raise LeaseLost(f"bot {bot.pk}: lease fence {fence} is no longer current")
        for name, value in fields.items():
            setattr(bot, name, value)
        pushed = set(fields) - {"heartbeat_at"}
        if pushed and pushed <= broadcast.RUN_STATE_FIELDS:
            broadcast.bot_run_state(bot.pk, {name: fields[name] for name in pushed})
        elif pushed:
            broadcast.bot_changed(bot)


def desired_state_get(bot_id: int) -> tuple[str, datetime | None]:
    """What the operator wants now: desired state and a pending cancel-all request time."""
    desired, cancel_all_at, _ = control_get(Bot, bot_id, ())
    return desired, cancel_all_at


def control_get(
    model: type[Bot], bot_id: int, live: tuple[str, ...]
) -> tuple[str, datetime | None, dict[str, Any]]:
    """`desired_state_get` and the bot's live settings: the fields `live` of its kind's row
    (`model`), by name."""
    row = model.objects.values_list("desired_state", "cancel_all_requested_at", *live).get(
        pk=bot_id
    )
    return row[0], row[1], dict(zip(live, row[2:], strict=True))


def cancel_all_done(bot: Bot, fence: int, requested_at: datetime) -> None:
    """Clear the operator's cancel-all request, unless a newer one arrived meanwhile."""
    with transaction.atomic():
        lock_fenced(bot.pk, fence)
        Bot.objects.filter(pk=bot.pk, cancel_all_requested_at=requested_at).update(
            cancel_all_requested_at=None
        )


def event_add(
    bot: Bot,
    fence: int,
    kind: str,
    message: str,
    *,
    level: str = EventLevel.INFO,
    data: dict[str, Any] | None = None,
) -> BotEvent:
    """A fenced BotEvent of the runner (mirrored to the log and pushed live)."""
    with transaction.atomic():
        lock_fenced(bot.pk, fence)
        return event_create(bot, kind, message, data, level)


def event_create(
    bot: Bot,
    kind: str,
    message: str,
    data: dict[str, Any] | None,
    level: str = EventLevel.INFO,
) -> BotEvent:
    (event,) = inserts.insert(connection(), [event_new(bot, kind, message, data, level)])
    _event_announce(bot, event)
    return event


def event_new(
    bot: Bot,
    kind: str,
    message: str,
    data: dict[str, Any] | None,
    level: str = EventLevel.INFO,
) -> BotEvent:
    """An unsaved BotEvent of the bot, for `events_create`."""
    return BotEvent(**_event_fields(bot, kind, message, data, level))


def events_create(bot: Bot, events: list[BotEvent]) -> None:
    """Insert several events of the bot at once (one INSERT, plain SQL: `inserts`), in order;
    push and log each."""
    if not events:
        return
    for event in inserts.insert(connection(), events):
        _event_announce(bot, event)


def _event_fields(
    bot: Bot, kind: str, message: str, data: dict[str, Any] | None, level: str
) -> dict[str, Any]:
    return {
        "bot": bot, "account_id": bot.account_id, "level": level, "kind": kind,
        "message": message, "data": data or {},
    }  # fmt: skip


def _event_announce(bot: Bot, event: BotEvent) -> None:
    broadcast.bot_event(event)
    log_level = {"debug": 10, "info": 20, "warning": 30, "error": 40}.get(event.level, 20)
    logger.log(log_level, "bot %s %s: %s: %s", bot.pk, bot.market.symbol, event.kind, event.message)


class ClientIndexes:
    """Client order indexes a runner reserved ahead from its account's counter, handed out in
    order: one counter UPDATE per `BLOCK` orders instead of one per plan. Still the account's
    database counter (design decision 3): an index is unique however many runners and
    processes allocate. Unused ones are skipped after a restart (indexes need not be dense)."""

    BLOCK = 32

    def __init__(self) -> None:
        self._next = self._end = 0
        self._committed = False

    def take(self, account: ExchangeAccount, count: int) -> range:
        """`count` fresh indexes (inside the caller's transaction)."""
        # A block is used beyond its own transaction only once that committed: a rolled-back
        # counter UPDATE hands the same indexes out again.
        if not self._committed or self._end - self._next < count:
            block = account.allocate_client_order_indexes(max(count, self.BLOCK))
            self._next, self._end = block.start, block.stop
            self._committed = False
            transaction.on_commit(self._keep)
        taken = range(self._next, self._next + count)
        self._next += count
        return taken

    def _keep(self) -> None:
        self._committed = True


def market_indexes_reserve(bot: Bot, fence: int, account: ExchangeAccount, count: int) -> range:
    """`count` client indexes on `account` for the bot's market orders, and the record that they
    are the bot's (`MarketOrderIndexes`), in one fenced transaction: before any of them is sent,
    so a fill of one is the bot's whichever run reads it."""
    with transaction.atomic():
        lock_fenced(bot.pk, fence)
        indexes = account.allocate_client_order_indexes(count)
        MarketOrderIndexes.objects.create(
            bot_id=bot.pk, account=account, first=indexes.start, count=count
        )
    return indexes


def market_indexes_reserved(bot_id: int, account_id: int) -> bool:
    """Whether the bot ever reserved indexes for market orders on the account."""
    return MarketOrderIndexes.objects.filter(bot_id=bot_id, account_id=account_id).exists()


def market_indexes_mine(bot_id: int, account_id: int, indexes: Collection[int]) -> set[int]:
    """Those of `indexes` the bot reserved for its market orders on the account (one query, of
    the blocks that may hold them)."""
    if not indexes:
        return set()
    blocks = (
        MarketOrderIndexes.objects.filter(bot_id=bot_id, account_id=account_id)
        .annotate(end=F("first") + F("count"))
        .filter(first__lte=max(indexes), end__gt=min(indexes))
    )
    spans = [range(first, first + count) for first, count in blocks.values_list("first", "count")]
    return {index for index in indexes if any(index in span for span in spans)}


def order_intents_create(
    bot: Bot,
    fence: int,
    orders: Sequence[DesiredOrder],
    *,
    reserve: ClientIndexes | None = None,
    **run_state: Any,
) -> list[Order]:
    """Persist orders as intents with fresh client indexes from the account counter (through
    the runner's `reserve` when it has one).

    Runs before anything is sent (design decision 2): a crash after this and before the send
    leaves intents that recovery resolves by asking the exchange for their client indexes.
    `run_state` (centre, last price) is written to the bot in the same transaction: one commit
    on the way from a fill to its replenish order. The UPDATE and the rows' INSERT are plain
    SQL (`_run_state_save`, `inserts`): this runs on every fill's way to its replenish order.
    """
    with transaction.atomic():
        lock_fenced(bot.pk, fence)
        conn = transaction.get_connection()
        if run_state:
            _run_state_save(conn, bot.pk, run_state)
            for name, value in run_state.items():
                setattr(bot, name, value)
            broadcast.bot_run_state(bot.pk, run_state)
        if not orders:
            return []
        if reserve is None:
            indexes = bot.account.allocate_client_order_indexes(len(orders))
        else:
            indexes = reserve.take(bot.account, len(orders))
        rows = inserts.insert(
            conn,
            [
                Order(
                    bot=bot,
                    account_id=bot.account_id,
                    market=bot.market,  # the cached row: pushes read its symbol
                    client_order_index=index,
                    side=str(order.side),
                    price=order.price,
                    size_base=order.size_base,
                    level_index=order.level,
                    status=OrderStatus.INTENT,
                )
                for index, order in zip(indexes, orders, strict=True)
            ],
        )
        for row in rows:
            broadcast.order_changed(row)
    return rows


# GridBot's own columns (its table's, not the Bot table's it inherits).
_GRID_COLUMNS = {
    field.name: field for field in GridBot._meta.local_concrete_fields if not field.primary_key
}


def _run_state_save(conn: BaseDatabaseWrapper, bot_id: int, fields: dict[str, Any]) -> None:
    """`GridBot.objects.filter(pk=bot_id).update(**fields)`, as one plain UPDATE when every
    field is a column of the grid's own table (the run state: centre, prices)."""
    if not set(fields) <= set(_GRID_COLUMNS) or any(
        # An expression or a model instance: the ORM's update resolves those.
        hasattr(value, "resolve_expression") or hasattr(value, "prepare_database_save")
        for value in fields.values()
    ):
        GridBot.objects.filter(pk=bot_id).update(**fields)
        return
    name = conn.ops.quote_name
    columns = [_GRID_COLUMNS[field] for field in fields]
    key = name(str(GridBot._meta.pk.column))
    assignments = ", ".join(f"{name(str(column.column))} = %s" for column in columns)
    # Only the model's own table and column names go into the text; every value is a parameter.
    sql = f"UPDATE {name(GridBot._meta.db_table)} SET {assignments} WHERE {key} = %s"  # noqa: S608
    # As the ORM's update: each value prepared by its field.
    params = [column.get_db_prep_save(fields[column.name], conn) for column in columns]
    with conn.cursor() as cursor:
        cursor.execute(sql, [*params, bot_id])


@dataclass(frozen=True)
class SentBatch:
    """Intents the exchange accepted in one send, their tx hashes and the plan's event."""

    rows: Sequence[Order]
    tx_hashes: Sequence[str]
    note: tuple[str, str, dict[str, Any]] | None = None


def orders_sent(
    bot: Bot,
    fence: int,
    sent: SentBatch,
    rows: dict[int, Order] | None = None,
    events: list[BotEvent] | None = None,
) -> None:
    """Intents accepted by the exchange: pending until the stream or REST says more.

    The batch's `note` (kind, message, data) is the plan's BotEvent, written in the same
    transaction (or appended to `events`, for the caller to insert with others). `rows`: the
    bot's rows by client index, read already in this transaction (`burst_record`); they are
    moved too.
    """
    now = timezone.now()
    with in_fenced(bot.pk, fence):
        lock_fenced(bot.pk, fence)
        if sent.note is not None:
            if events is None:
                event_create(bot, *sent.note)
            else:
                events.append(event_new(bot, *sent.note))
        status = transition(OrderStatus.INTENT, OrderEvent.SENT)
        hashes = dict(zip((r.pk for r in sent.rows), sent.tx_hashes, strict=True))
        if rows is None:
            moved = set(
                Order.objects.filter(pk__in=list(hashes), status=OrderStatus.INTENT).values_list(
                    "pk", flat=True
                )
            )
        else:
            read = {r.pk: r for r in rows.values()}
            moved = {pk for pk in hashes if pk in read and read[pk].status == OrderStatus.INTENT}
        if moved:
            _sent_save(moved, hashes, status, now)
        for row in sent.rows:
            row.tx_hash, row.sent_at = hashes[row.pk], now
            if row.pk in moved:
                row.status = status
                fresh = rows.get(row.client_order_index) if rows is not None else None
                if fresh is not None:
                    fresh.status, fresh.tx_hash, fresh.sent_at = status, row.tx_hash, now
            broadcast.order_changed(row)


def _sent_save(pks: set[int], hashes: dict[int, str], status: str, now: datetime) -> None:
    """Intent rows to `status` with their tx hashes: one UPDATE statement run per row
    (`executemany`). A fast stream report may already have moved a row past its intent: it
    wins (the statement matches intents only)."""
    conn = connection()
    name = conn.ops.quote_name
    sent_at = Order._meta.get_field("sent_at").get_db_prep_save(now, conn)
    sql = (
        f"UPDATE {name(Order._meta.db_table)} SET {name('status')} = %s, {name('tx_hash')} = %s, "  # noqa: S608
        f"{name('sent_at')} = %s WHERE {name(str(Order._meta.pk.column))} = %s "
        f"AND {name('status')} = %s"
    )
    params = [[status, hashes[pk], sent_at, pk, OrderStatus.INTENT.value] for pk in pks]
    with conn.cursor() as cursor:
        cursor.executemany(sql, params)


def orders_refused(bot: Bot, fence: int, rows: Sequence[Order], reason: str) -> None:
    """Intents the exchange refused outright (HTTP 400): rejected with its reason."""
    _orders_end(bot, fence, rows, OrderEvent.REFUSED, reason)


def orders_resolved_missing(bot: Bot, fence: int, rows: Sequence[Order], reason: str) -> None:
    """Rows the exchange has no record of: never executed (a crash before or during the send)."""
    _orders_end(bot, fence, rows, OrderEvent.REJECTED, reason)


def _orders_end(
    bot: Bot, fence: int, rows: Sequence[Order], event: OrderEvent, reason: str
) -> None:
    now = timezone.now()
    with transaction.atomic():
        lock_fenced(bot.pk, fence)
        for row in rows:
            status = transition(row.status, event)
            Order.objects.filter(pk=row.pk).update(
                status=status, reason=reason[:500], resolved_at=now
            )
            row.status, row.reason = status, reason
            broadcast.order_changed(row)


def active_orders(bot: Bot) -> list[Order]:
    """The bot's orders that may still rest (for the plan and for recovery)."""
    return list(Order.objects.filter(bot=bot, status__in=ACTIVE).select_related("market"))
