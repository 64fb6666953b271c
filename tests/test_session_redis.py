"""Tests publish to their own Redis database, never to the broker of a LighterWeb running on the
same machine (REDIS_URL's database 0)."""

from __future__ import annotations

import os

import redis

from bots.tasks import resume_bots_task
from lighterweb.celery import app


def test_a_task_enqueued_by_a_test_lands_in_the_sessions_database_not_in_redis_urls(
    redis_url, redis_client
):
    live_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert app.conf.broker_url == redis_url != live_url

    resume_bots_task.delay()

    assert redis_client.llen("celery") == 1
    if redis_url.rsplit("/", 1)[0] == live_url.rsplit("/", 1)[0]:
        live = redis.Redis.from_url(live_url)
        try:
            messages = live.lrange("celery", 0, -1)
        finally:
            live.close()
        assert not any(b"resume_bots_task" in message for message in messages)


def test_the_channel_layer_and_redis_url_of_the_session_are_its_own_database(redis_url):
    from channels.layers import get_channel_layer
    from django.conf import settings

    layer = get_channel_layer()

    assert settings.REDIS_URL == redis_url
    assert [host["address"] for host in layer.hosts] == [redis_url]
