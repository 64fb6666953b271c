"""broadcast: pushes reach the right Channels groups, only after commit, with exact money."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.db import transaction
from django.test import override_settings

from bots.dashboard import broadcast
from bots.models import BotEvent, Fill, GridBot, Order
from tests.bots.worker_support import wait_for
from tests.lighterweb.factories import make_account, make_bot, make_market
from tests.lighterweb.redis_writes import CountedConnection

pytestmark = pytest.mark.django_db(transaction=True)

RECEIVE_TIMEOUT_S = 5


def _layers(hosts: list[Any], prefix: str = "lighterweb-test:channels") -> dict[str, Any]:
    # The site's backend (lighterweb.channel_layer), on the test session's Redis.
    backend = django_settings.CHANNEL_LAYERS["default"]["BACKEND"]
    return {"default": {"BACKEND": backend, "CONFIG": {"hosts": hosts, "prefix": prefix}}}


@pytest.fixture
def channel_layer(redis_url: str) -> Iterator[object]:
    with override_settings(CHANNEL_LAYERS=_layers([redis_url])):
        yield get_channel_layer()


@pytest.fixture
def counted_layer(redis_url: str) -> Iterator[object]:
    """The site's layer whose connections count their round trips (a prefix of its own: no
    member of another test's in its groups)."""
    host = {"address": redis_url, "connection_class": CountedConnection}
    with override_settings(CHANNEL_LAYERS=_layers([host], f"lighterweb-test:{uuid.uuid4().hex}")):
        yield get_channel_layer()


def _sender_round_trips() -> int:
    return CountedConnection.writes["lw-broadcast"]


def _listen(layer, group: str) -> str:
    """A page's channel in `group`, joined as a consumer joins (`broadcast.join`)."""
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(broadcast.join)(layer, group, channel)
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


def _fill(bot, trade_id: int) -> Fill:
    order = Order.objects.create(
        bot=bot, account=bot.account, market=bot.market, client_order_index=trade_id,
        side="buy", price=Decimal("100"), size_base=Decimal("1"), status="filled",
    )  # fmt: skip
    return Fill.objects.create(
        bot=bot, account=bot.account, market=bot.market, order=order, trade_id=trade_id,
        side="buy", price=Decimal("100"), size_base=Decimal("1"), fee=Decimal("0"),
        is_maker=True, executed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip


def test_groups_nobody_watches_cost_a_drain_no_round_trip_of_their_own(
    counted_layer, bot, monkeypatch
):
    """A fill of an unwatched bot (the overview and its page both closed) in the same drain as a
    push to a watched page costs no more round trips than that push alone: the drain's one
    membership check covers every group, and only the watched group gets a group send."""
    monkeypatch.setattr(broadcast, "MEMBERSHIP_TTL_S", 0.0)  # every drain asks
    watched_bot = make_bot(bot.account, bot.market)
    page = _listen(counted_layer, f"bot.{watched_bot.pk}")

    def push_to_the_watched_page(message: str) -> None:
        broadcast.bot_event(
            BotEvent.objects.create(bot=watched_bot, account=bot.account, kind="k", message=message)
        )

    push_to_the_watched_page("warm-up")  # the sender's connection and its handshake
    assert _pushes(counted_layer, page, 1)[0]["data"]["message"] == "warm-up"
    before = _sender_round_trips()
    push_to_the_watched_page("alone")
    assert _pushes(counted_layer, page, 1)[0]["data"]["message"] == "alone"
    alone = _sender_round_trips() - before

    fill = _fill(bot, 1)
    before = _sender_round_trips()
    with transaction.atomic():  # one commit: one drain
        broadcast.fill_recorded(fill)  # to `dashboard` and `bot.<id>`: nobody watches either
        push_to_the_watched_page("with a fill nobody watches")
    pushed = _pushes(counted_layer, page, 1)[0]["data"]["message"]

    assert pushed == "with a fill nobody watches"
    assert _sender_round_trips() - before == alone


def test_pushes_nobody_watches_stop_where_they_are_handed_over_until_a_page_joins(
    counted_layer, bot, monkeypatch
):
    """Once a drain found a bot's groups without a member, the bot's next pushes are dropped
    where they are handed over: no sender turn, no round trip (each commit of a worker with no
    dashboard open woke the sender and asked Redis). A page that joins gets the next push."""
    monkeypatch.setattr(broadcast, "MEMBERSHIP_TTL_S", 30.0)  # the answer outlives the test
    fills = [_fill(bot, n) for n in range(1, 8)]
    broadcast.fill_recorded(fills[0])  # to `dashboard` and `bot.<id>`: nobody watches either
    wait_for(
        lambda: broadcast._sender._fresh(counted_layer) is not None, RECEIVE_TIMEOUT_S, "an answer"
    )
    wakes, round_trips = broadcast._sender.wakes, _sender_round_trips()

    for fill in fills[1:6]:
        broadcast.fill_recorded(fill)
        time.sleep(2 * broadcast.GATHER_SECONDS)  # past a drain's gathering, had one been woken

    assert (broadcast._sender.wakes, _sender_round_trips()) == (wakes, round_trips)
    page = _listen(counted_layer, f"bot.{bot.pk}")
    broadcast.fill_recorded(fills[6])
    assert [push["data"]["id"] for push in _pushes(counted_layer, page, 1)] == [fills[6].pk]


def test_a_page_that_joins_while_a_transaction_is_open_gets_its_pushes(
    counted_layer, bot, monkeypatch
):
    """A push nobody watched when it was made leaves its payload to the commit; a page that
    joined meanwhile gets it then, built as committed."""
    monkeypatch.setattr(broadcast, "MEMBERSHIP_TTL_S", 30.0)
    first, second = _fill(bot, 1), _fill(bot, 2)
    broadcast.fill_recorded(first)  # nobody watches: the process's answer says so from now on
    wait_for(
        lambda: broadcast._sender._fresh(counted_layer) is not None, RECEIVE_TIMEOUT_S, "an answer"
    )

    with transaction.atomic():
        broadcast.fill_recorded(second)
        page = _listen(counted_layer, f"bot.{bot.pk}")

    (pushed,) = _pushes(counted_layer, page, 1)
    assert (pushed["kind"], pushed["data"]["id"], pushed["data"]["price"]) == (
        "fill",
        second.pk,
        "100",
    )


def test_a_drain_keeps_each_watched_groups_order_and_skips_unwatched_ones(channel_layer, bot):
    page = _listen(channel_layer, f"bot.{bot.pk}")
    fills = [_fill(bot, n) for n in range(1, 4)]

    with transaction.atomic():  # one drain: the bot's page, the overview (unwatched) and events
        for n, fill in enumerate(fills):
            broadcast.fill_recorded(fill)
            event = BotEvent.objects.create(bot=bot, account=bot.account, kind="k", message=f"{n}")
            broadcast.bot_event(event)

    received = [(push["kind"], push["data"]["id"]) for push in _pushes(channel_layer, page, 6)]
    events = BotEvent.objects.filter(bot=bot).order_by("pk")
    expected = [
        pair for fill, event in zip(fills, events, strict=True)
        for pair in (("fill", fill.pk), ("event", event.pk))
    ]  # fmt: skip
    assert received == expected


def test_a_drain_that_cannot_reach_redis_is_dropped_and_the_next_one_still_goes(
    channel_layer, bot, caplog
):
    page = _listen(channel_layer, f"bot.{bot.pk}")
    unreachable = _layers(["redis://127.0.0.1:1/0"])  # nothing listens on port 1
    with override_settings(CHANNEL_LAYERS=unreachable), caplog.at_level("WARNING"):
        broadcast.bot_run_state(bot.pk, {"centre_index": 1})
        wait_for(lambda: "dropped" in caplog.text, RECEIVE_TIMEOUT_S, "the warning")
    broadcast.bot_run_state(bot.pk, {"centre_index": 2})

    assert _pushes(channel_layer, page, 1)[0]["data"] == {"id": bot.pk, "centre_index": 2}


def test_a_burst_of_commits_wakes_the_sender_once_and_keeps_their_order(channel_layer, bot):
    """Each commit hands its pushes over; the sender is woken once for all those handed over
    before it takes them (a runner's DB thread woke it for every commit: a self-pipe write in
    the writer and a loop turn in the sender each time)."""
    page = _listen(channel_layer, f"bot.{bot.pk}")
    events = [
        BotEvent.objects.create(bot=bot, account=bot.account, kind="k", message=str(n))
        for n in range(30)
    ]
    broadcast.bot_event(events[0])  # the sender's thread and connection up
    assert _pushes(channel_layer, page, 1)[0]["data"]["id"] == events[0].pk
    before = broadcast._sender.wakes

    for event in events[1:]:  # 29 commits, each handed over on its own
        broadcast.bot_event(event)
    received = [push["data"]["id"] for push in _pushes(channel_layer, page, 29)]

    assert received == [event.pk for event in events[1:]]
    assert broadcast._sender.wakes - before < 10
