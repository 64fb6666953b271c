"""Alerts that no event raises: the daily account summary and a request budget running out;
and which BotEvent kinds raise which alert."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
import redis.asyncio as aioredis
from django.utils import timezone

from bots.models import AlertKind, Fill, FundingPayment
from bots.notify import rules
from bots.notify.tasks import notify_budget_check_task, notify_daily_summary_task
from exchange.budget import RequestBudget
from lighterweb.celery import app
from tests.lighterweb.factories import make_account, make_bot, make_market
from tests.notify.conftest import make_channel

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESS = "0x" + "ab" * 20


def _fill(bot, trade_id: int, side: str, price: str, *, hours_ago: float, round_trip=None):
    return Fill.objects.create(
        account=bot.account,
        market=bot.market,
        bot=bot,
        trade_id=trade_id,
        side=side,
        price=Decimal(price),
        size_base=Decimal("0.01"),
        fee=Decimal("0.01"),
        is_maker=True,
        level_index=-1 if side == "buy" else 0,
        round_trip_id=round_trip,
        executed_at=timezone.now() - timedelta(hours=hours_ago),
    )


def test_the_daily_summary_goes_out_once_at_the_channel_hour(notify_env, webhook):
    account = make_account(name="Main")
    bot = make_bot(account, make_market())
    _fill(bot, 1, "buy", "3990", hours_ago=30, round_trip=1)  # before the day
    _fill(bot, 2, "sell", "4000", hours_ago=2, round_trip=1)  # closes a round trip today
    _fill(bot, 3, "buy", "3990", hours_ago=1)
    FundingPayment.objects.create(
        account=account,
        market=bot.market,
        bot=bot,
        funding_id=1,
        amount=Decimal("-0.25"),
        rate=Decimal("0.0001"),
        paid_at=timezone.now() - timedelta(hours=3),
    )
    now_hour = timezone.now().astimezone(timezone.get_current_timezone()).hour
    make_channel("webhook", webhook_url=webhook.url, summary_hour=now_hour, min_level="error")
    make_channel("webhook", webhook_url=webhook.url, summary_hour=(now_hour + 1) % 24)

    first = notify_daily_summary_task()
    again = notify_daily_summary_task()

    assert (first, again) == (1, 0)
    [request] = webhook.requests
    body = request.json()
    assert body["kind"] == "daily_summary"
    assert "Main" in body["title"]
    assert body["data"]["fills_24h"] == "2"
    assert body["data"]["round_trips_24h"] == "1"
    assert Decimal(body["data"]["volume_quote_24h"]) == Decimal("79.90")
    assert Decimal(body["data"]["funding_24h"]) == Decimal("-0.25")
    assert "2 fills" in body["text"]


def test_a_budget_above_80_percent_of_the_bots_share_warns_once_per_quarter_hour(
    notify_env, redis_url, webhook
):
    account = make_account(l1_address=ADDRESS)
    make_bot(account, make_market())
    make_channel("webhook", webhook_url=webhook.url)

    async def spend(requests: int) -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            budget = RequestBudget(client, ADDRESS, "standard")
            for _ in range(requests):
                # The bots' own (routine) traffic: it may use 37 of 60, so 80 % of it is 29.6.
                assert (await budget.try_acquire()).granted
        finally:
            await client.aclose()

    asyncio.run(spend(29))
    below = notify_budget_check_task()
    asyncio.run(spend(1))

    above, again = notify_budget_check_task(), notify_budget_check_task()

    assert (below, above, again) == (0, 1, 0)
    body = webhook.requests[0].json()
    assert body["kind"] == "budget"
    assert body["level"] == "warning"
    assert body["data"] == {"address": ADDRESS, "used": 30, "limit": 60, "routine_limit": 37}


@pytest.mark.parametrize(
    ("kind", "level", "alert"),
    [
        ("error", "error", AlertKind.BOT_ERROR),
        ("restart", "warning", AlertKind.BOT_RESTARTED),
        ("emergency_stop", "info", AlertKind.EMERGENCY),
        ("cancel_failed", "error", AlertKind.BOT_ERROR),
        ("risk_exit", "warning", AlertKind.RISK_EXIT),
        ("foreign_order", "warning", AlertKind.UNATTRIBUTED),
        ("fill", "info", AlertKind.FILLS),
        ("something_new", "error", AlertKind.BOT_ERROR),
        ("plan", "info", AlertKind.OTHER),
    ],
)
def test_event_kinds_map_to_alerts(kind, level, alert):
    assert rules.alert_kind_of(kind, level) == alert


def test_a_route_filters_by_kind_level_and_bot():
    route = rules.route_of(1, ["bot_error", "bot_stopped"], "warning", [7])

    assert route.accepts("bot_error", "error", 7)
    assert not route.accepts("bot_error", "error", 8)
    assert not route.accepts("bot_stopped", "info", 7)
    assert not route.accepts("fills", "error", 7)
    assert route.accepts("bot_error", "warning", None)  # account-wide alerts pass the bot filter


def test_beat_schedules_the_alert_tasks_and_a_worker_knows_them():
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}

    for name in ("notify_flush_task", "notify_daily_summary_task", "notify_budget_check_task"):
        assert f"bots.notify.tasks.{name}" in scheduled
    assert {"bots.notify.tasks.notify_event_task", "bots.notify.tasks.notify_send_task"} <= set(
        app.tasks
    )
