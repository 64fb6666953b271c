"""Alert tests: real Redis, Celery tasks run eagerly (on the dispatcher's thread, as a worker
would run them on its own), real local HTTP servers for the webhook and Telegram."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from bots.models import NotificationChannel
from bots.notify import dispatch
from lighterweb.celery import app
from tests.notify.servers import FakeTelegram, WebhookReceiver, serve

TELEGRAM_TOKEN = "123456:test-token-abc"


@pytest.fixture
def notify_env(settings, redis_url, redis_client) -> Iterator[None]:
    settings.REDIS_URL = redis_url
    settings.NOTIFY_RATE_PER_MINUTE = 1000
    app.conf.update(task_always_eager=True)
    dispatch.routes_invalidate()
    yield
    try:
        assert dispatch.wait_idle(60), "the dispatcher did not finish its events"
    finally:
        app.conf.update(task_always_eager=False)
        dispatch.routes_invalidate()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    with serve(receiver):
        yield receiver


@pytest.fixture
def telegram_api(settings) -> Iterator[FakeTelegram]:
    fake = FakeTelegram(token=TELEGRAM_TOKEN)
    with serve(fake) as url:
        settings.TELEGRAM_API_URL = url
        yield fake


def make_channel(
    kind: str, *, secret: str = "", token: str = "", **fields: Any
) -> NotificationChannel:
    """A saved, enabled channel; the dispatcher of this process sees it at once."""
    channel = NotificationChannel(
        name=f"{kind}-{NotificationChannel.objects.count()}", kind=kind, **fields
    )
    if secret:
        channel.set_webhook_secret(secret)
    if token:
        channel.set_telegram_bot_token(token)
    channel.full_clean()
    channel.save()
    dispatch.routes_invalidate()
    return channel


@pytest.fixture
async def closes_db_threads():
    """Async tests reach the database from sync_to_async's thread: close its connection after,
    else PostgreSQL cannot drop the test database at the end of the session."""
    yield
    await sync_to_async(connections.close_all)()
