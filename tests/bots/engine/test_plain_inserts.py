"""The runner's plain-SQL inserts (`bots.engine.inserts`): intents' Order rows, Fill rows, BotEvent
rows and session-log chunks are stored exactly as the ORM stores them, the objects come back as
the ORM leaves them, and a trade id another runner of the account recorded meanwhile is skipped
(recorded once, not returned)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections, models, transaction
from django.utils import timezone

from bots.engine import inserts, recording, reports, selects, session_log
from bots.models import BotEvent, Fill, GridBot, Order, OrderStatus, SessionChunk
from bots.strategies.accounting import Ledger
from bots.strategies.grid import DesiredOrder, Side
from exchange.types import FillInfo, LiquidityRole, OrderSide
from tests.lighterweb.factories import make_account, make_bot, make_market

pytestmark = pytest.mark.django_db(transaction=True)

ORDERS = [
    DesiredOrder(
        level=-1, side=Side.BUY, price=Decimal("2995"), size_base=Decimal("0.01"), post_only=True
    ),
    DesiredOrder(
        level=2, side=Side.SELL, price=Decimal("3010.25"), size_base=Decimal("0.0125"),
        post_only=True,
    ),
]  # fmt: skip


@pytest.fixture
def bot() -> GridBot:
    bot = make_bot(make_account(), make_market())
    GridBot.objects.filter(pk=bot.pk).update(lease_fence=1)
    return GridBot.objects.select_related("account", "market").get(pk=bot.pk)


def fill_info(bot: GridBot, row: Order, trade_id: int, t: int, side: str = "buy") -> FillInfo:
    price, size = row.price, row.size_base
    return FillInfo(
        trade_id=trade_id,
        market_id=bot.market.market_id,
        account_index=7,
        order_index=100 + trade_id,
        client_order_index=row.client_order_index,
        side=OrderSide(side),
        role=LiquidityRole.MAKER,
        price=price,
        size=size,
        quote=price * size,
        fee_rate_e6=20,
        timestamp_ms=1_700_000_000_000 + t,
    )


def attributes(obj: models.Model) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def stored(model: type[models.Model], pk: int) -> dict[str, Any]:
    """The row's columns as the database holds them (no field converters)."""
    name = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM {name(model._meta.db_table)} WHERE {name('id')} = %s",
            [pk],
        )
        columns = [c[0] for c in cursor.description]
        return dict(zip(columns, cursor.fetchone(), strict=True))


def same_storage(ours: dict[str, Any], orm: dict[str, Any], differ: set[str]) -> None:
    """Equal columns, but for `differ` (ids, times): there the same type and text shape."""
    assert ours.keys() == orm.keys()
    for column, value in ours.items():
        if column in differ:
            assert type(value) is type(orm[column]), column
            if isinstance(value, str):
                assert len(value) == len(orm[column]), column
        else:
            assert value == orm[column], column
            assert type(value) is type(orm[column]), column


def assert_saved(obj: models.Model) -> None:
    """As the ORM leaves a created object: pk set, no longer adding, its database set."""
    assert obj.pk is not None
    assert obj._state.adding is False
    assert obj._state.db == "default"
    fresh = type(obj).objects.get(pk=obj.pk)
    assert attributes(fresh) == attributes(obj)


def test_intents_and_the_run_state_are_stored_as_the_orm_stores_them(bot):
    rows = recording.order_intents_create(
        bot, 1, ORDERS, centre_index=4, last_price=Decimal("3001.5")
    )

    assert [r.client_order_index for r in rows] == [1, 2]
    for row in rows:
        assert_saved(row)
        assert row.market is bot.market  # the cached row: pushes read its symbol
    orm = Order.objects.create(
        bot=bot, account_id=bot.account_id, market=bot.market, client_order_index=99,
        side="sell", price=Decimal("3010.25"), size_base=Decimal("0.0125"), level_index=2,
        status=OrderStatus.INTENT,
    )  # fmt: skip
    differ = {"id", "client_order_index", "created_at", "updated_at"}
    same_storage(stored(Order, rows[1].pk), stored(Order, orm.pk), differ)
    grid = GridBot.objects.get(pk=bot.pk)
    assert (grid.centre_index, grid.last_price) == (4, Decimal("3001.5"))
    assert (bot.centre_index, bot.last_price) == (4, Decimal("3001.5"))


def test_run_state_of_the_bot_table_still_goes_through_the_orm(bot):
    # `status` is a Bot column, not a grid's: the ORM's update, as before.
    recording.order_intents_create(bot, 1, [], status="running", centre_index=2)

    grid = GridBot.objects.get(pk=bot.pk)
    assert (grid.status, grid.centre_index) == ("running", 2)


def test_an_intent_write_with_a_moved_fence_writes_nothing(bot):
    with pytest.raises(recording.LeaseLost):
        recording.order_intents_create(bot, 2, ORDERS, centre_index=7)

    assert not Order.objects.exists()
    assert GridBot.objects.get(pk=bot.pk).centre_index != 7


def test_fills_and_their_events_are_stored_as_the_orm_stores_them(bot):
    rows = recording.order_intents_create(bot, 1, ORDERS)
    ledger = Ledger()
    infos = [fill_info(bot, rows[0], 11, 1), fill_info(bot, rows[1], 12, 2, "sell")]

    _, new = reports.burst_record(bot, 1, [], infos, [], ledger, [])

    assert [f.trade_id for f in new] == [11, 12]
    for fill in new:
        assert_saved(fill)
        assert fill.round_trip_id == ledger.round_trip_of(fill.trade_id)
    assert [f.order_id for f in new] == [rows[0].pk, rows[1].pk]
    orm = Fill.objects.create(
        account_id=bot.account_id, market=bot.market, order=rows[1], bot=bot, trade_id=99,
        side=new[1].side, price=new[1].price, size_base=new[1].size_base, fee=new[1].fee,
        is_maker=new[1].is_maker, level_index=new[1].level_index,
        round_trip_id=new[1].round_trip_id, executed_at=new[1].executed_at,
    )  # fmt: skip
    same_storage(stored(Fill, new[1].pk), stored(Fill, orm.pk), {"id", "trade_id", "created_at"})
    events = list(BotEvent.objects.filter(bot=bot, kind="fill").order_by("id"))
    assert [e.data["trade_id"] for e in events] == [11, 12]
    orm_event = BotEvent.objects.create(
        bot=bot, account_id=bot.account_id, level="info", kind="fill", message=events[1].message,
        data={"trade_id": 12, "level_index": new[1].level_index},
    )  # fmt: skip
    same_storage(
        stored(BotEvent, events[1].pk), stored(BotEvent, orm_event.pk), {"id", "created_at"}
    )


def test_a_single_event_and_a_session_chunk_are_stored_as_the_orm_stores_them(bot):
    data = {"levels": [1, 2], "note": "é", "nested": {"a": None}}
    event = recording.event_add(bot, 1, "plan", "placed 2", data=data)

    assert_saved(event)
    assert event.data == data
    orm = BotEvent.objects.create(
        bot=bot, account_id=bot.account_id, level="info", kind="plan", message="placed 2", data=data
    )
    same_storage(stored(BotEvent, event.pk), stored(BotEvent, orm.pk), {"id", "created_at"})

    pending = session_log.Pending(
        entries=[["open", 1], ["book", 2]], state={"centre": 3}, config={"step": "10"}
    )
    with transaction.atomic():
        session_log.write(bot, pending)
    chunk = SessionChunk.objects.get(bot_id=bot.pk)
    orm_chunk = SessionChunk.objects.create(
        bot_id=bot.pk, first_ms=1, last_ms=2, count=2, state={"centre": 3},
        config={"step": "10"}, entries=chunk.entries,
    )  # fmt: skip
    same_storage(stored(SessionChunk, chunk.pk), stored(SessionChunk, orm_chunk.pk), {"id"})


def test_a_conflicting_row_is_skipped_and_the_transaction_goes_on(bot):
    def fill(trade_id: int) -> Fill:
        return Fill(
            account_id=bot.account_id, market=bot.market, bot=bot, trade_id=trade_id,
            side="buy", price=Decimal("2995"), size_base=Decimal("0.01"), is_maker=True,
            executed_at=datetime(2026, 1, 1, tzinfo=UTC),
        )  # fmt: skip

    with transaction.atomic():
        fill(2).save()
        fills = [fill(1), fill(2), fill(3)]

        got = inserts.insert(connection, fills, skip_conflicts_on=("account", "trade_id"))

        assert [f.trade_id for f in got] == [1, 3]
        assert all(f._state.adding is False for f in got)
        assert fills[1].pk is None and fills[1]._state.adding is True
        # No error aborted the transaction (PostgreSQL refuses every statement after one).
        assert Fill.objects.filter(account_id=bot.account_id).count() == 3


def test_the_fill_constraint_is_the_one_the_insert_skips_on():
    (constraint,) = [c for c in Fill._meta.constraints if c.name == "fill_trade_id_unique"]
    assert tuple(constraint.fields) == reports._FILL_UNIQUE  # type: ignore[attr-defined]


def test_a_trade_another_runner_records_meanwhile_is_recorded_once(bot):
    """Two runners of one account see the same trade: the other one inserts it after our read
    and commits while our insert waits on its row; ours skips it, returns and pushes only the
    trade that is new, and books both (they are the bot's)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer: a transaction begins after the other one committed")
    rows = recording.order_intents_create(bot, 1, ORDERS)
    other = make_bot(bot.account, bot.market)
    infos = [fill_info(bot, rows[0], 11, 1), fill_info(bot, rows[1], 12, 2, "sell")]
    holding, ours_ready, release = threading.Event(), threading.Event(), threading.Event()
    result: dict[str, Any] = {}
    ledger = Ledger()

    def other_runner() -> None:
        try:
            with transaction.atomic():
                Fill.objects.create(
                    account_id=bot.account_id, market=bot.market, bot=other, trade_id=11,
                    side="buy", price=rows[0].price, size_base=rows[0].size_base,
                    is_maker=True, executed_at=datetime(2026, 1, 1, tzinfo=UTC),
                )  # fmt: skip
                holding.set()
                release.wait(60)
        finally:
            connections.close_all()

    def ours() -> None:
        try:
            connection.ensure_connection()
            result["pid"] = connection.connection.info.backend_pid
            ours_ready.set()
            result["new"] = reports.fills_record(bot, 1, infos, ledger)
        finally:
            connections.close_all()

    first = threading.Thread(target=other_runner)
    first.start()
    assert holding.wait(60)
    second = threading.Thread(target=ours)
    second.start()
    try:
        assert ours_ready.wait(60)
        # Our INSERT waits for the other transaction (its row holds the unique trade id).
        for _ in range(6000):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [result["pid"]]
                )
                (waiting,) = cursor.fetchone()
            if waiting == "Lock":
                break
            time.sleep(0.01)
        else:
            pytest.fail("our insert never waited for the other runner's row")
    finally:
        release.set()
        first.join(60)
        second.join(60)

    assert [f.trade_id for f in result["new"]] == [12]
    assert Fill.objects.get(trade_id=11).bot_id == other.pk
    assert Fill.objects.get(trade_id=12).bot_id == bot.pk
    assert [e.data["trade_id"] for e in BotEvent.objects.filter(bot=bot, kind="fill")] == [12]
    assert ledger.has_fill(11) and ledger.has_fill(12)


def test_rows_read_by_plain_sql_are_the_orms(bot):
    rows = recording.order_intents_create(bot, 1, ORDERS)
    Order.objects.filter(pk=rows[0].pk).update(
        status=OrderStatus.OPEN, order_index=123, filled_base=Decimal("0.0025"),
        sent_at=timezone.now(), tx_hash="0xab",
    )  # fmt: skip
    fills = reports.fills_record(bot, 1, [fill_info(bot, rows[0], 11, 1)], Ledger())

    read = reports._rows_by_index(bot, [r.client_order_index for r in rows])

    orm = {r.client_order_index: r for r in Order.objects.filter(bot=bot)}
    assert list(read) == [r.client_order_index for r in Order.objects.filter(bot=bot)]
    for index, row in read.items():
        assert row._state.adding is False and row._state.db == "default"
        assert row.market is bot.market
        mine, theirs = attributes(row), attributes(orm[index])
        assert mine == theirs
        assert [type(v) for v in mine.values()] == [type(v) for v in theirs.values()]
    stored_trades = reports._stored_trades(bot, [fill_info(bot, rows[0], 11, 1)])
    fill = Fill.objects.get(pk=fills[0].pk)
    assert stored_trades == {11: (fill.side, fill.price, fill.size_base)}
    assert [type(v) for v in stored_trades[11]] == [str, Decimal, Decimal]
    (again,) = selects.select(
        connections["default"],
        Fill,
        f"SELECT {selects.columns(Fill, connection)} FROM "
        f"{connection.ops.quote_name(Fill._meta.db_table)}",
        [],
    )
    assert attributes(again) == attributes(fill)
