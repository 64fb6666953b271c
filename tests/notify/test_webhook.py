"""Webhook channels: a bot error arrives as signed JSON; a burst of fills of a running grid
arrives as one message once its window closes."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from asgiref.sync import sync_to_async

from bots.engine import recording
from bots.models import Fill, GridBot
from bots.notify import dispatch
from bots.notify.tasks import notify_flush_task
from bots.notify.transports import SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.bots.runner_support import (
    account_on,
    finish,
    grid_bot,
    quiet,
    set_desired,
    sim_open_orders,
    start_runners,
    wait_until,
)
from tests.lighterweb.factories import make_account, make_bot, make_market
from tests.notify.conftest import make_channel

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec-test-1234"


def _verified(request, secret: str) -> bool:
    timestamp = request.headers[TIMESTAMP_HEADER.lower()]
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(request.headers[SIGNATURE_HEADER.lower()], f"sha256={expected}")


def test_a_bot_error_reaches_the_webhook_as_json_signed_with_the_secret(notify_env, webhook):
    bot = make_bot(make_account(), make_market())
    GridBot.objects.filter(pk=bot.pk).update(lease_fence=1)
    make_channel("webhook", webhook_url=webhook.url + "/hook", secret=SECRET)

    event = recording.event_add(bot, 1, "error", "RuntimeError: book went away", level="error")

    assert dispatch.wait_idle(20)
    assert len(webhook.requests) == 1
    request = webhook.requests[0]
    assert request.path == "/hook"
    assert _verified(request, SECRET)
    assert not _verified(request, "another-secret")
    body = request.json()
    assert body["kind"] == "bot_error"
    assert body["level"] == "error"
    assert body["bot_id"] == bot.pk
    assert bot.name in body["title"]
    assert body["text"] == "RuntimeError: book went away"
    assert [e["id"] for e in body["events"]] == [event.pk]


def test_a_webhook_without_a_secret_is_sent_unsigned(notify_env, webhook):
    bot = make_bot(make_account(), make_market())
    make_channel("webhook", webhook_url=webhook.url)

    recording.event_create(bot, "crash_loop", "3 restarts in 10 minutes", None, "error")

    assert dispatch.wait_idle(20)
    assert [r.json()["kind"] for r in webhook.requests] == ["bot_error"]
    assert SIGNATURE_HEADER.lower() not in webhook.requests[0].headers


def test_events_a_channel_did_not_choose_are_not_sent(notify_env, webhook):
    bot = make_bot(make_account(), make_market())
    other = make_bot(make_account(), make_market(market_id=1, symbol="BTC"))
    channel = make_channel("webhook", webhook_url=webhook.url, min_level="warning")
    channel.bots.set([other])
    dispatch.routes_invalidate()

    recording.event_create(bot, "error", "not this bot", None, "error")
    recording.event_create(other, "stopped", "info is below the channel's minimum", None, "info")
    recording.event_create(other, "plan", "'other' is not chosen", None, "warning")
    recording.event_create(other, "error", "this one", None, "error")

    assert dispatch.wait_idle(20)
    assert [r.json()["text"] for r in webhook.requests] == ["this one"]


@pytest.fixture
def eth_bot(simulator, funded_account):
    return grid_bot(account_on(simulator, funded_account), "ETH", levels=5)


async def test_a_burst_of_fills_of_a_running_grid_is_one_message(
    notify_env, webhook, settings, simulator, funded_account, eth_bot, closes_db_threads
):
    settings.NOTIFY_COALESCE_SECONDS = 0  # the window closes at once; the flush decides when
    await sync_to_async(make_channel)(
        "webhook", webhook_url=webhook.url, secret=SECRET, alert_kinds=["fills"]
    )
    (runner,), (task,) = await start_runners([eth_bot])

    async def full_and_quiet() -> bool:
        return (
            quiet(runner, simulator)
            and len(sim_open_orders(simulator, funded_account.index, 0)) == 10
        )

    await wait_until(full_and_quiet, what="a full grid")
    # Three buy levels below the mid (step 5): one price move fills them in one burst.
    simulator.sim("POST", "/sim/price", {"market_id": 0, "price": "2978.00"})
    simulator.advance(1000)

    async def three_fills() -> bool:
        return await sync_to_async(Fill.objects.filter(bot=eth_bot).count)() >= 3

    await wait_until(three_fills, what="three fills recorded")
    await wait_until(lambda: sync_to_async(dispatch.wait_idle)(0.01), what="dispatcher idle")
    fills = await sync_to_async(Fill.objects.filter(bot=eth_bot).count)()
    assert webhook.requests == []  # parked in the window, not one message per fill

    sent = await sync_to_async(notify_flush_task)()

    assert sent == 1
    assert len(webhook.requests) == 1
    body = webhook.requests[0].json()
    assert _verified(webhook.requests[0], SECRET)
    assert body["kind"] == "fills"
    assert len(body["events"]) == fills
    assert {e["kind"] for e in body["events"]} == {"fill"}
    assert f"{fills} fills" in body["title"]
    await sync_to_async(set_desired)(eth_bot, "stopped")
    assert await finish(task) == "stopped"
    assert await sync_to_async(notify_flush_task)() == 0
