"""The test session's Celery broker: the session's claimed Redis database, never REDIS_URL's.

Without this, a test whose service enqueues a task (a start on commit, an admin job) published
to the broker of the settings, `REDIS_URL`'s database 0: the broker of a LighterWeb running on the
same machine, whose workers then ran the test's task against their own bots (seen: a test's admin
job received by a developer's running stack). Every publish of the session goes to the claimed
database instead, and the tests that start a worker process pass it the same URL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings

from lighterweb.celery import app


def use_broker(url: str) -> None:
    """Point this process's Celery app (publishes and results) at `url`."""
    app.conf.update(broker_url=url, result_backend=url)
    # Celery keeps the connection and producer pools of its first publish: drop them so the
    # next publish uses `url`.
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture(scope="session", autouse=True)
def _session_broker(redis_url: str) -> Iterator[str]:
    previous = (app.conf.broker_url, app.conf.result_backend)
    saved = (django_settings.CELERY_BROKER_URL, django_settings.CELERY_RESULT_BACKEND)
    django_settings.CELERY_BROKER_URL = django_settings.CELERY_RESULT_BACKEND = redis_url
    use_broker(redis_url)
    yield redis_url
    django_settings.CELERY_BROKER_URL, django_settings.CELERY_RESULT_BACKEND = saved
    app.conf.update(broker_url=previous[0], result_backend=previous[1])
    app._pool = None
    app.amqp._producer_pool = None
