"""A real Celery worker on the default queue for tests, and this process's app sending to it.

The worker is a subprocess (`celery -A lighterweb worker -Q celery -P solo`, as the Procfile's
`worker_default` without concurrency) on the test database and the test session's Redis
database, which is also the broker; `broker_at` points this process's Celery app at that broker
for the test, so `task.delay()` here reaches that worker and no other.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import connection

from lighterweb.celery import app
from tests.browser import live_stack


def _reset_pools() -> None:
    # Forget the cached pools (not closed: kombu keeps them in a registry by connection), so the
    # next send connects to the broker now configured.
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def broker_at(redis_url: str) -> Iterator[None]:
    """This process's Celery app sends to `redis_url` until the block ends."""
    before = app.conf.broker_url
    app.conf.broker_url = redis_url
    _reset_pools()
    try:
        yield
    finally:
        app.conf.broker_url = before
        _reset_pools()


@contextmanager
def default_worker(redis_url: str, log_path: Path) -> Iterator[Any]:
    """A default-queue worker process on the test database and `redis_url` (broker too)."""
    env = live_stack.stack_env(live_stack.database_url(connection.settings_dict), redis_url)
    command = [
        live_stack._bin("celery"), "-A", "lighterweb", "worker", "-Q", "celery", "-P", "solo",
        "-n", f"default-test-{os.getpid()}@%h", "--without-heartbeat", "--without-gossip",
        "--without-mingle",
    ]  # fmt: skip
    with broker_at(redis_url), live_stack.running(command, env, log_path) as process:
        yield process
