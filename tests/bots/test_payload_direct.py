"""`schemas.payload` builds the pushes' payloads (orders, fills, events) without the schema's
validation: the dict must stay exactly the schema's, field for field and type for type, on real
rows and on the objects the runner pushes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from pydantic import ValidationError

from bots import schemas
from bots.engine import recording
from bots.models import BotEvent, Fill, GridBot, Order, OrderStatus
from bots.strategies.grid import DesiredOrder, Side
from tests.lighterweb.factories import make_account, make_bot, make_market

pytestmark = pytest.mark.django_db


def by_schema(schema: type[schemas.Schema], obj: Any) -> dict[str, Any]:
    return schema.from_orm(obj).model_dump(mode="json")


def same(direct: Any, expected: Any) -> None:
    """Equal, with the same types all the way down (a str subclass is not a str here)."""
    assert type(direct) is type(expected), (direct, expected)
    if isinstance(expected, dict):
        assert list(direct) == list(expected)
        for key in expected:
            same(direct[key], expected[key])
    elif isinstance(expected, list):
        assert len(direct) == len(expected)
        for one, other in zip(direct, expected, strict=True):
            same(one, other)
    else:
        assert direct == expected


def check(schema: type[schemas.Schema], obj: Any) -> dict[str, Any]:
    # The direct path must have been taken (not the fallback) and agree with the schema.
    direct = schemas._direct_payload(schemas._DIRECT[schema], obj)
    assert direct is not None
    same(direct, by_schema(schema, obj))
    same(schemas.payload(schema, obj), by_schema(schema, obj))
    return direct


@pytest.fixture
def bot() -> GridBot:
    bot = make_bot(make_account(), make_market(price_decimals=2, size_decimals=4))
    return GridBot.objects.select_related("account", "market").get(pk=bot.pk)


def test_orders_in_every_status_read_back(bot):
    now = timezone.now()
    for index, status in enumerate(OrderStatus.values, start=1):
        Order.objects.create(
            bot=bot if index % 2 else None, account_id=bot.account_id, market=bot.market,
            client_order_index=index, order_index=None if index < 3 else 10_000 + index,
            side="buy" if index % 2 else "sell", price=Decimal("2995.1200"),
            size_base=Decimal("0.0100"), filled_base=Decimal("0.0025") * (index % 3),
            status=status, exchange_status="" if index < 3 else status,
            reason="" if index < 6 else "canceled-post-only: é", level_index=index - 4,
            tx_hash="" if index < 2 else f"0x{index:064x}",
            sent_at=None if index < 2 else now, resolved_at=now if index > 5 else None,
        )  # fmt: skip
    rows = list(Order.objects.select_related("market"))
    assert {r.status for r in rows} == set(OrderStatus.values)
    for row in rows:
        check(schemas.OrderOut, row)
    zero = rows[0]
    zero.size_base = Decimal("0")  # fill_ratio of a zero-size order
    check(schemas.OrderOut, zero)


def test_orders_as_the_runner_pushes_them(bot):
    GridBot.objects.filter(pk=bot.pk).update(lease_fence=1)
    order = DesiredOrder(
        level=-1, side=Side.BUY, price=Decimal("2995"), size_base=Decimal("0.01"), post_only=True
    )
    (row,) = recording.order_intents_create(bot, 1, [order])

    assert type(row.status) is OrderStatus  # an enum member: validated to its value
    payload = check(schemas.OrderOut, row)
    assert payload["status"] == "intent" and payload["price"] == "2995"


def test_fills_with_and_without_bot_order_and_round_trip(bot):
    order = Order.objects.create(
        bot=bot, account_id=bot.account_id, market=bot.market, client_order_index=1,
        side="buy", price=Decimal("2995"), size_base=Decimal("0.01"),
    )  # fmt: skip
    executed = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    common = {
        "account_id": bot.account_id, "market": bot.market, "side": "buy",
        "price": Decimal("2995.50"), "size_base": Decimal("0.0100"), "is_maker": True,
    }  # fmt: skip
    Fill.objects.create(
        **common, order=order, bot=bot, trade_id=1, fee=Decimal("-0.000599"), level_index=-1,
        round_trip_id=7, executed_at=executed,
    )  # fmt: skip
    Fill.objects.create(**common, trade_id=2, executed_at=executed + timedelta(seconds=1))
    fills = list(Fill.objects.select_related("market"))
    assert {(f.bot_id is None, f.round_trip_id is None) for f in fills} == {
        (False, False),
        (True, True),
    }
    for fill in fills:
        check(schemas.FillOut, fill)


def test_events_with_data(bot):
    BotEvent.objects.create(
        bot=bot, account_id=bot.account_id, level="warning", kind="order_missing",
        message="sell level 1 @ 150.5 ended", data={
            "trade_id": 12, "levels": [1, -2], "price": "2995.5", "nested": {"a": None},
            "ok": True, "ratio": 0.25, "text": "é",
        },
    )  # fmt: skip
    BotEvent.objects.create(bot=bot, account=None, kind="plan", message="no data")
    events = list(BotEvent.objects.all())
    assert len(events) == 2
    for event in events:
        check(schemas.EventOut, event)
    # Unsaved data as the runner builds it can hold Decimals and times: the schema's text.
    event = events[0]
    event.data = {"price": Decimal("2995.50"), "at": datetime(2026, 1, 1, tzinfo=UTC)}
    check(schemas.EventOut, event)


def test_values_validation_would_convert_or_refuse_take_the_schema(bot):
    order = Order.objects.create(
        bot=bot, account_id=bot.account_id, market=bot.market, client_order_index=1,
        side="buy", price=Decimal("2995"), size_base=Decimal("0.01"),
    )  # fmt: skip
    order.price = "2995.10"  # type: ignore[assignment]  # validation makes it a Decimal
    assert schemas._direct_payload(schemas._DIRECT[schemas.OrderOut], order) is None
    same(schemas.payload(schemas.OrderOut, order), by_schema(schemas.OrderOut, order))
    assert schemas.payload(schemas.OrderOut, order)["price"] == "2995.1"

    order.price, order.side = Decimal("2995"), "hold"
    assert schemas._direct_payload(schemas._DIRECT[schemas.OrderOut], order) is None
    with pytest.raises(ValidationError):
        schemas.payload(schemas.OrderOut, order)
