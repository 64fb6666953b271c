"""Shared parts of the tests that run a real Celery bots worker (test_worker_kill and its
neighbours): the worker subprocess, its environment (the test's database, Redis and secrets),
a bounded wait on a condition, and the grid's "fully placed" check; and a default-queue worker
(`default_worker`: `celery -A lighterweb worker -Q celery -P solo`, as the Procfile's
`worker_default` without concurrency) for the admin's long actions.

Processes: the test (the web/beat side: it starts bots and runs the supervisor task directly),
the simulator on a background thread of the test process (a real TCP port, so the worker reaches
it like a remote exchange), and `celery -A lighterweb worker -Q bots -P threads` subprocesses.

Shared state, and why it is reachable from the worker:
- Database: pytest-django's test database is a FILE here (SQLite, see `_database` in
  lighterweb/settings.py: the test NAME is a file per process; with PostgreSQL it is a named
  database on the server), and `django_db(transaction=True)` commits every write. The worker
  gets `DATABASE_URL` built from this connection's settings, so both processes use the same
  test database. (An in-memory SQLite test database would be invisible to the subprocess.)
- Redis: the session's test Redis (`redis_url`) is the worker's broker, lease store, nonce and
  budget store; this process enqueues onto it (the session broker of tests.plugins.session_redis).
- Secrets: the worker gets this process's SECRET_KEY and FIELD_ENCRYPTION_KEYS, so it can
  decrypt the accounts' API keys.

A module using `worker_env` imports it and names it in its `__all__` (pytest finds fixtures by
module attribute).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection

from bots.models import GridBot, Order
from tests.bots.runner_support import sim_open_orders
from tests.browser import live_stack
from tests.browser.live_stack import database_url

BASE_DIR = Path(__file__).resolve().parents[2]
LEVELS = 5
ETH = 0
WORKER_READY_TIMEOUT_S = 60.0
LEASE_EXPIRY_TIMEOUT_S = 25.0


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Re-check `condition` until it holds; seconds it took, or AssertionError after timeout."""
    started = time.monotonic()
    pause = threading.Event()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        pause.wait(0.05)
    return time.monotonic() - started


class Worker:
    """A `celery worker -Q bots -P threads` subprocess; `ready` is set when it says so."""

    def __init__(self, env: dict[str, str]) -> None:
        self.ready = threading.Event()
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "lighterweb",
                "worker",
                "-Q",
                "bots",
                "-P",
                "threads",
                "-c",
                "4",
                "-n",
                f"bots-test-{uuid.uuid4().hex[:8]}@%h",
                "--loglevel",
                "INFO",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if " ready." in line:
                self.ready.set()

    def output(self) -> str:
        return "".join(self.lines[-60:])

    def wait_ready(self) -> None:
        if not self.ready.wait(WORKER_READY_TIMEOUT_S):
            raise AssertionError("worker did not start:\n" + "".join(self.lines[-40:]))

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup, no lease release, like a lost machine."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def worker_env(settings, redis_url) -> Iterator[dict[str, str]]:
    settings.REDIS_URL = redis_url
    settings.BOT_START_GRACE_SECONDS = 0
    # This process enqueues (bot_start, the supervisor) onto the worker's broker: the
    # session's broker (tests.plugins.session_redis), which the worker is given below.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "lighterweb.settings",
            "DATABASE_URL": database_url(connection.settings_dict),
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "CELERY_RESULT_BACKEND": redis_url,
            "SECRET_KEY": django_settings.SECRET_KEY,
            "FIELD_ENCRYPTION_KEYS": ",".join(django_settings.FIELD_ENCRYPTION_KEYS),
            "PYTHONUNBUFFERED": "1",
        }
    )
    yield env


def grid_ok(simulator: Any, account_index: int, bot: GridBot) -> bool:
    """The grid is fully placed on the venue: 2 * LEVELS orders of ours, no duplicates."""
    orders = sim_open_orders(simulator, account_index, ETH)
    ours = set(Order.objects.filter(bot=bot).values_list("client_order_index", flat=True))
    indexes = [o.client_order_index for o in orders]
    return (
        len(orders) == 2 * LEVELS
        and len(set(indexes)) == len(indexes)
        and len({(o.is_ask, o.price) for o in orders}) == len(orders)
        and set(indexes) <= ours
    )


@contextmanager
def default_worker(redis_url: str, log_path: Path) -> Iterator[Any]:
    """A default-queue worker process on the test database and `redis_url` (broker too)."""
    env = live_stack.stack_env(live_stack.database_url(connection.settings_dict), redis_url)
    command = [
        live_stack._bin("celery"), "-A", "lighterweb", "worker", "-Q", "celery", "-P", "solo",
        "-n", f"default-test-{os.getpid()}@%h", "--without-heartbeat", "--without-gossip",
        "--without-mingle",
    ]  # fmt: skip
    with live_stack.running(command, env, log_path) as process:
        yield process
