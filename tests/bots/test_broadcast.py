"""broadcast: pushes reach the right Channels groups, only after commit, with exact money."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.test import override_settings

from bots.dashboard import broadcast
from bots.models import BotEvent, Fill, GridBot, Order
from tests.lighterweb.factories import make_account, make_bot, make_market

pytestmark = pytest.mark.django_db(transaction=True)

RECEIVE_TIMEOUT_S = 5


@pytest.fixture
def channel_layer(redis_url: str) -> Iterator[object]:
    layers = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": "lighterweb-test:channels"},
        }
    }
    with override_settings(CHANNEL_LAYERS=layers):
        yield get_channel_layer()


def _listen(layer, group: str) -> str:
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return channel


def _receive(layer, channel: str) -> dict:
    async def receive() -> dict:
        import asyncio

        return await asyncio.wait_for(layer.receive(channel), RECEIVE_TIMEOUT_S)

    return async_to_sync(receive)()


def _pushes(layer, channel: str, count: int) -> list[dict]:
    """`count` pushes as a consumer sees them: batch messages unpacked, in order."""
    pushes: list[dict] = []
    while len(pushes) < count:
        message = _receive(layer, channel)
        if message["type"] == broadcast.BATCH_TYPE:
            pushes += message["items"]
        else:
            pushes.append({"kind": message["kind"], "data": message["data"]})
    return pushes


@pytest.fixture
def bot():
    return make_bot(make_account(), make_market())


def test_bot_changed_reaches_dashboard_and_bot_groups(channel_layer, bot):
    dashboard = _listen(channel_layer, "dashboard")
    page = _listen(channel_layer, f"bot.{bot.pk}")

    broadcast.bot_changed(bot)

    for channel in (dashboard, page):
        message = _receive(channel_layer, channel)
        assert message["kind"] == "bot"
        assert message["data"]["id"] == bot.pk
        assert message["data"]["status"] == "stopped"


def test_push_inside_a_rolled_back_transaction_is_never_sent(channel_layer, bot):
    page = _listen(channel_layer, f"bot.{bot.pk}")

    with pytest.raises(RuntimeError), transaction.atomic():
        broadcast.bot_changed(bot)
        raise RuntimeError("roll back")
    event = BotEvent.objects.create(bot=bot, account=bot.account, kind="k", message="after")
    broadcast.bot_event(event)

    message = _receive(channel_layer, page)
    assert message["kind"] == "event"
    assert message["data"]["message"] == "after"


def test_order_and_fill_money_travels_as_exact_strings(channel_layer, bot):
    page = _listen(channel_layer, f"bot.{bot.pk}")
    order = Order.objects.create(
        bot=bot,
        account=bot.account,
        market=bot.market,
        client_order_index=1,
        side="buy",
        price=Decimal("3999.99"),
        size_base=Decimal("0.0100"),
        status="open",
    )
    fill = Fill.objects.create(
        bot=bot,
        account=bot.account,
        market=bot.market,
        order=order,
        trade_id=11,
        side="buy",
        price=Decimal("3999.99"),
        size_base=Decimal("0.01"),
        fee=Decimal("0.000001"),
        is_maker=True,
        executed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )

    broadcast.order_changed(order)
    broadcast.fill_recorded(fill)

    order_message, fill_message = _pushes(channel_layer, page, 2)
    assert order_message["kind"] == "order"
    assert Decimal(order_message["data"]["price"]) == Decimal("3999.99")
    assert fill_message["kind"] == "fill"
    assert Decimal(fill_message["data"]["fee"]) == Decimal("0.000001")


def test_info_events_stay_off_the_overview_but_errors_reach_it(channel_layer, bot):
    dashboard = _listen(channel_layer, "dashboard")
    info = BotEvent.objects.create(bot=bot, account=bot.account, kind="k", message="info")
    error = BotEvent.objects.create(
        bot=bot, account=bot.account, level="error", kind="k", message="boom"
    )

    broadcast.bot_event(info)
    broadcast.bot_event(error)

    assert _pushes(channel_layer, dashboard, 1)[0]["data"]["message"] == "boom"


def test_account_push_never_carries_a_secret_and_sends_decimals_as_strings(channel_layer):
    account = make_account()
    account.set_api_private_key("0x" + "ab" * 40)
    account.save()
    group = _listen(channel_layer, f"account.{account.pk}")

    broadcast.account_changed(account, {"equity": Decimal("100.5"), "positions": []})

    message = _receive(channel_layer, group)
    assert message["data"]["summary"]["equity"] == "100.5"
    assert message["data"]["account"]["has_api_key"] is True
    assert "ab" * 40 not in repr(message)
    assert "encrypted" not in repr(message)


def test_pushes_arrive_in_the_order_they_were_committed(channel_layer, bot):
    page = _listen(channel_layer, f"bot.{bot.pk}")

    for n in range(30):
        event = BotEvent.objects.create(bot=bot, account=bot.account, kind="k", message=f"{n}")
        broadcast.bot_event(event)

    received = [push["data"]["message"] for push in _pushes(channel_layer, page, 30)]
    assert received == [f"{n}" for n in range(30)]


def test_one_commit_sends_one_message_per_group_with_each_object_once(channel_layer, bot):
    page = _listen(channel_layer, f"bot.{bot.pk}")
    order = Order.objects.create(
        bot=bot, account=bot.account, market=bot.market, client_order_index=1, side="buy",
        price=Decimal("100"), size_base=Decimal("1"), status="intent",
    )  # fmt: skip

    with transaction.atomic():
        for status in ("intent", "pending", "open"):
            order.status = status
            broadcast.order_changed(order)
        broadcast.bot_run_state(bot.pk, {"centre_index": 3})
        broadcast.bot_run_state(bot.pk, {"last_price": Decimal("1E+3")})
        event = BotEvent.objects.create(bot=bot, account=bot.account, kind="plan", message="m")
        broadcast.bot_event(event)

    message = _receive(channel_layer, page)
    assert message["type"] == broadcast.BATCH_TYPE
    kinds = [(item["kind"], item["data"].get("status")) for item in message["items"]]
    assert kinds == [("order", "open"), ("bot", None), ("event", None)]
    assert message["items"][1]["data"] == {"id": bot.pk, "centre_index": 3, "last_price": "1000"}


def test_a_rolled_back_transaction_pushes_nothing_and_the_next_one_still_pushes(channel_layer, bot):
    page = _listen(channel_layer, f"bot.{bot.pk}")
    with pytest.raises(RuntimeError), transaction.atomic():
        broadcast.bot_run_state(bot.pk, {"centre_index": 1})
        raise RuntimeError("rolled back")
    with transaction.atomic():
        broadcast.bot_run_state(bot.pk, {"centre_index": 2})

    assert _pushes(channel_layer, page, 1)[0]["data"] == {"id": bot.pk, "centre_index": 2}


def test_bot_push_carries_the_committed_row_not_the_callers_stale_copy(channel_layer, bot):
    page = _listen(channel_layer, f"bot.{bot.pk}")
    runner_copy = GridBot.objects.get(pk=bot.pk)  # loaded while the operator wanted "stopped"
    GridBot.objects.filter(pk=bot.pk).update(desired_state="running")  # the operator's Start

    GridBot.objects.filter(pk=bot.pk).update(status="starting")  # the runner's own write
    runner_copy.status = "starting"
    broadcast.bot_changed(runner_copy)

    data = _receive(channel_layer, page)["data"]
    assert (data["status"], data["desired_state"]) == ("starting", "running")
