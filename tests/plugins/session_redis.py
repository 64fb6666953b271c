"""The test session's Redis: the session's claimed database, never REDIS_URL's, for everything.

Without this, a test whose service enqueues a task (a start on commit, an admin job) published
to the broker of the settings, `REDIS_URL`'s database 0: the broker of a LighterWeb running on the
same machine, whose workers then ran the test's task against their own bots (seen: a test's admin
job received by a developer's running stack), and a test's dashboard pushes reached that stack's
open pages (seen: test bots listed on its overview). For the whole session, the Celery app
(publishes, results), the channel layer and `REDIS_URL` (leases, budgets, nonces) use the claimed
database; the tests that start a worker process pass it the same URL.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import channel_layers
from django.conf import settings as django_settings

from lighterweb.celery import app


def use_broker(url: str) -> None:
    """Point this process's Celery app (publishes and results) at `url`."""
    app.conf.update(broker_url=url, result_backend=url)
    # Celery keeps the connection and producer pools of its first publish: drop them so the
    # next publish uses `url`.
    app._pool = None
    app.amqp._producer_pool = None


def _channel_layers(url: str) -> dict[str, Any]:
    layers = copy.deepcopy(django_settings.CHANNEL_LAYERS)
    for host in layers["default"]["CONFIG"]["hosts"]:
        host["address"] = url
    return layers


@pytest.fixture(scope="session", autouse=True)
def _session_redis(redis_url: str) -> Iterator[str]:
    previous = (app.conf.broker_url, app.conf.result_backend)
    names = ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CHANNEL_LAYERS")
    saved = {name: getattr(django_settings, name) for name in names}
    layers = _channel_layers(redis_url)
    for name in names:
        setattr(django_settings, name, layers if name == "CHANNEL_LAYERS" else redis_url)
    channel_layers.backends.clear()  # built again from the setting on first use
    use_broker(redis_url)
    yield redis_url
    for name, value in saved.items():
        setattr(django_settings, name, value)
    channel_layers.backends.clear()
    app.conf.update(broker_url=previous[0], result_backend=previous[1])
    app._pool = None
    app.amqp._producer_pool = None
