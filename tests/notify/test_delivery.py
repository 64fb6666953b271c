"""Delivery: retries and failure marking, email, the rate limit, quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from django.core import mail

from bots import services
from bots.models import NotificationChannel
from bots.notify import dispatch, sender
from bots.notify.messages import Notification
from bots.notify.tasks import notify_send_task
from tests.lighterweb.factories import make_account, make_bot, make_market
from tests.notify.conftest import make_channel
from tests.notify.servers import WebhookReceiver, serve

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bot():
    return make_bot(make_account(), make_market())


def test_a_failing_channel_is_retried_marked_and_does_not_hold_up_the_event_or_other_channels(
    notify_env, webhook, bot
):
    failing = WebhookReceiver(status=500, hold=True)
    with serve(failing):
        broken = make_channel("webhook", webhook_url=failing.url)
        healthy = make_channel("webhook", webhook_url=webhook.url)

        services.event_record(bot, "error", "exchange said no", level="error")
        failing.log.append("event recorded")

        # The writer returned while the failing endpoint still held the first attempt: the
        # notification runs beside the writer, never inside it.
        assert failing.arrived.wait(20)
        failing.release.set()
        assert dispatch.wait_idle(30)

    assert failing.log[0] == "event recorded"

    assert len(failing.requests) == sender.SEND_RETRIES + 1
    broken.refresh_from_db()
    assert broken.consecutive_failures == sender.SEND_RETRIES + 1
    assert "HTTP 500" in broken.last_error
    assert broken.last_failure_at is not None
    assert [r.json()["text"] for r in webhook.requests] == ["exchange said no"]
    healthy.refresh_from_db()
    assert healthy.consecutive_failures == 0
    assert healthy.last_success_at is not None


def test_a_refusal_that_will_not_change_is_not_retried(notify_env, bot):
    refusing = WebhookReceiver(status=404)
    with serve(refusing):
        channel = make_channel("webhook", webhook_url=refusing.url)
        notification = Notification("bot_error", "error", "t", "x", bot_id=bot.pk)

        notify_send_task.apply(args=(channel.pk, notification.as_dict()))

    assert len(refusing.requests) == 1
    channel.refresh_from_db()
    assert channel.consecutive_failures == 1
    assert "HTTP 404" in channel.last_error


def test_a_channel_that_delivers_again_is_healthy_again(notify_env, webhook, bot):
    channel = make_channel("webhook", webhook_url=webhook.url)
    NotificationChannel.objects.filter(pk=channel.pk).update(consecutive_failures=4)

    notify_send_task.apply(
        args=(channel.pk, Notification("bot_error", "error", "t", "x").as_dict())
    )

    channel.refresh_from_db()
    assert channel.consecutive_failures == 0


def test_an_email_channel_mails_the_alert(notify_env, bot):
    make_channel("email", email_to="ops@example.com")

    services.event_record(bot, "restart", "runner died; restarted (1 of 3)", level="warning")

    assert dispatch.wait_idle(20)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ops@example.com"]
    assert bot.name in message.subject
    assert "restart" in message.subject
    assert "runner died" in message.body


def test_over_the_rate_limit_messages_are_held_back_and_the_next_one_says_so(
    notify_env, settings, redis_client, webhook
):
    settings.NOTIFY_RATE_PER_MINUTE = 2
    channel = make_channel("webhook", webhook_url=webhook.url)
    minute = datetime(2026, 1, 5, 12, 0, 10, tzinfo=UTC)
    outcomes = [
        sender.deliver(
            redis_client, channel.pk, Notification("bot_error", "error", f"#{n}", "x"), minute
        )
        for n in range(4)
    ]
    next_minute = datetime(2026, 1, 5, 12, 1, 0, tzinfo=UTC)

    later = sender.deliver(
        redis_client, channel.pk, Notification("bot_error", "error", "#4", "x"), next_minute
    )

    assert outcomes == ["sent", "sent", "rate_limited", "rate_limited"]
    assert later == "sent"
    texts = [r.json()["text"] for r in webhook.requests]
    assert len(texts) == 3
    assert "2 more notifications were held back" in texts[-1]


def test_quiet_hours_hold_back_all_but_errors(notify_env, redis_client, webhook):
    channel = make_channel(
        "webhook",
        webhook_url=webhook.url,
        quiet_hours_start=time(22, 0),
        quiet_hours_end=time(7, 0),
        time_zone="Europe/Berlin",
    )
    night = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)  # 00:30 in Berlin

    stopped = sender.deliver(
        redis_client, channel.pk, Notification("bot_stopped", "info", "s", "x"), night
    )
    error = sender.deliver(
        redis_client, channel.pk, Notification("bot_error", "error", "e", "x"), night
    )

    assert (stopped, error) == ("quiet", "sent")
    assert [r.json()["title"] for r in webhook.requests] == ["e"]


@pytest.mark.parametrize(
    ("start", "end", "local", "quiet"),
    [
        (time(22), time(7), time(23, 59), True),
        (time(22), time(7), time(6, 59), True),
        (time(22), time(7), time(7, 0), False),
        (time(22), time(7), time(12, 0), False),
        (time(1), time(5), time(3, 0), True),
        (time(1), time(5), time(5, 0), False),
        (None, None, time(3, 0), False),
    ],
)
def test_quiet_hours_window(start, end, local, quiet):
    channel = NotificationChannel(quiet_hours_start=start, quiet_hours_end=end, time_zone="UTC")

    assert (
        channel.in_quiet_hours(datetime.combine(datetime(2026, 1, 5), local, tzinfo=UTC)) is quiet
    )


def test_a_disabled_channel_gets_nothing(notify_env, webhook, bot):
    channel = make_channel("webhook", webhook_url=webhook.url)
    NotificationChannel.objects.filter(pk=channel.pk).update(enabled=False)
    dispatch.routes_invalidate()

    services.event_record(bot, "error", "nobody listens", level="error")

    assert dispatch.wait_idle(20)
    assert webhook.requests == []


def test_backoff_doubles_and_is_capped():
    delays = [sender.retry_delay_s(n) for n in range(8)]

    assert delays[:5] == [5.0, 10.0, 20.0, 40.0, 80.0]
    assert max(delays) == sender.RETRY_CAP_SECONDS


def test_events_no_channel_wants_are_not_handed_to_the_dispatcher(notify_env, webhook, bot):
    make_channel("webhook", webhook_url=webhook.url)
    # The first event finds the routes stale: it goes to the dispatcher, which reads them.
    services.event_record(bot, "error", "first", level="error")
    assert dispatch.wait_idle(20)
    before = dispatch.handed_over()

    for n in range(5):
        services.event_record(bot, "fill", f"fill {n}", level="info")
    assert dispatch.handed_over() == before

    services.event_record(bot, "error", "second", level="error")
    assert dispatch.wait_idle(20)
    assert dispatch.handed_over() == before + 1
    assert [r.json()["text"] for r in webhook.requests] == ["first", "second"]
