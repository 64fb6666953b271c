"""API history: orders, fills and events with filters and cursor pages; bad input is 422."""
# ruff: noqa: F811 - pytest fixtures imported from tests.bots.api_helpers

from datetime import timedelta

import pytest
from django.utils import timezone

from bots.models import BotEvent
from tests.bots.api_helpers import (  # noqa: F401 - fixtures
    account,
    api,
    bot,
    make_event,
    make_fill,
    make_order,
    market,
    staff,
)
from tests.lighterweb.factories import make_account, make_bot

pytestmark = pytest.mark.django_db


def _walk(api, url, **params):
    """Every item of a paged list, following next_cursor to the end, and the page count."""
    items, pages, cursor = [], 0, None
    while True:
        body = api.get(url, **params, **({"cursor": cursor} if cursor else {})).json()
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages


def test_event_pages_cover_every_event_once_newest_first(api, bot):
    made = [make_event(bot, f"kind{i}").pk for i in range(7)]

    items, pages = _walk(api, "/api/events", bot_id=bot.pk, limit=3)

    assert [e["id"] for e in items] == sorted(made, reverse=True)
    assert pages == 3


def test_event_page_is_stable_while_new_events_arrive(api, bot):
    for i in range(4):
        make_event(bot, f"old{i}")
    first = api.get("/api/events", limit=2).json()
    make_event(bot, "newer")

    second = api.get("/api/events", limit=2, cursor=first["next_cursor"]).json()

    assert [e["kind"] for e in first["items"] + second["items"]] == [
        "old3",
        "old2",
        "old1",
        "old0",
    ]


def test_events_level_is_a_minimum(api, bot):
    for level in ("debug", "info", "warning", "error"):
        make_event(bot, level, level=level)

    kinds = [e["kind"] for e in api.get("/api/events", level="warning").json()["items"]]

    assert kinds == ["error", "warning"]


def test_events_filter_by_kind_search_and_since(api, bot):
    make_event(bot, "fill", message="bought 0.01 at 3990")
    make_event(bot, "roll", message="centre moved")
    old = make_event(bot, "fill", message="bought long ago")
    BotEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    since = (timezone.now() - timedelta(days=1)).isoformat()

    assert len(api.get("/api/events", kind="fill").json()["items"]) == 2
    assert [e["kind"] for e in api.get("/api/events", search="centre").json()["items"]] == ["roll"]
    assert len(api.get("/api/events", kind="fill", since=since).json()["items"]) == 1


def test_events_of_one_bot_only(api, bot, account, market):
    other = make_bot(make_account(name="other"), market)
    make_event(bot, "mine")
    make_event(other, "theirs")

    kinds = [e["kind"] for e in api.get("/api/events", bot_id=bot.pk).json()["items"]]

    assert kinds == ["mine"]


def test_orders_live_only_hides_finished_orders(api, bot):
    make_order(bot, 1, status="open")
    make_order(bot, 2, status="canceled", reason="post-only would cross")
    make_order(bot, 3, status="partially_filled")

    live = api.get("/api/orders", bot_id=bot.pk, live_only=True).json()["items"]
    everything = api.get("/api/orders", bot_id=bot.pk).json()["items"]

    assert [o["client_order_index"] for o in live] == [3, 1]
    assert everything[1]["reason"] == "post-only would cross"
    assert everything[0]["price"] == "3990"


def test_orders_filter_by_status(api, bot):
    make_order(bot, 1, status="open")
    make_order(bot, 2, status="rejected")

    rows = api.get("/api/orders", status="rejected").json()["items"]

    assert [o["client_order_index"] for o in rows] == [2]


def test_fills_page_and_since(api, bot):
    for trade_id in range(1, 5):
        make_fill(bot, trade_id)
    make_fill(bot, 99, executed_at=timezone.now() - timedelta(days=3))
    since = (timezone.now() - timedelta(days=1)).isoformat()

    items, pages = _walk(api, "/api/fills", since=since, limit=2)

    assert [f["trade_id"] for f in items] == [4, 3, 2, 1]
    assert pages == 2
    assert items[0]["symbol"] == "ETH"


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        ("/api/events", {"cursor": "not-a-cursor"}, "cursor"),
        ("/api/orders", {"cursor": "²"}, "cursor"),
        ("/api/fills", {"cursor": "١٢"}, "cursor"),
        ("/api/events", {"level": "loud"}, "level"),
        ("/api/events", {"limit": 0}, "limit"),
        ("/api/orders", {"limit": 10_000}, "limit"),
        ("/api/fills", {"since": "yesterday"}, "since"),
        ("/api/orders", {"bot_id": "abc"}, "bot_id"),
    ],
    ids=[
        "cursor",
        "superscript cursor",
        "arabic digits cursor",
        "level",
        "limit zero",
        "limit huge",
        "since",
        "bot id",
    ],
)
def test_bad_filters_are_422_naming_the_field(api, url, params, field):
    response = api.get(url, **params)

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation"
    assert [e["field"] for e in body["errors"]] == [field]
    assert body["errors"][0]["message"]


@pytest.mark.parametrize("since", ["1012-07-26T09:55:27+19:23", "2026-01-01T00:00:00"])
def test_any_valid_since_is_answered_not_a_500(api, since):
    response = api.get("/api/orders", since=since)

    assert response.status_code == 200
