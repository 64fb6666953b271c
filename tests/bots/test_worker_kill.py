"""A real Celery bots worker is killed with SIGKILL mid-run; a new worker restores the grid.

Processes: this test (the web/beat side: it starts the bot and runs the supervisor task
directly), the simulator on a background thread of this process (a real TCP port, so the worker
reaches it like a remote exchange), and `celery -A lighterweb worker -Q bots -P threads`
subprocesses.

Shared state, and why it is reachable from the worker:
- Database: pytest-django's test database is a FILE here (SQLite, see `_database` in
  lighterweb/settings.py: the test NAME is a file per process; with PostgreSQL it is a named
  database on the server), and `django_db(transaction=True)` commits every write. The worker
  gets `DATABASE_URL` built from this connection's settings, so both processes use the same
  test database. (An in-memory SQLite test database would be invisible to the subprocess.)
- Redis: the session's test Redis (`redis_url`) is the worker's broker, lease store, nonce and
  budget store; this process enqueues onto it (the session broker of tests.plugins.session_redis).
- Secrets: the worker gets this process's SECRET_KEY and FIELD_ENCRYPTION_KEYS, so it can
  decrypt the account's API key.

The lease TTL is the production one (15 s); the test waits for it to run out after the kill
(that wait is the safety margin, not part of the 10 s budget), then starts the new worker and
measures from the supervisor's restart to the restored grid, waiting on that state with a 10 s
timeout.
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
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection

from bots import services
from bots.engine.leases import lease_holder
from bots.models import Fill, GridBot, Order
from bots.tasks import supervise_bots_task
from tests.bots.runner_support import account_on, grid_bot, sim_open_orders
from tests.browser.live_stack import database_url

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(__file__).resolve().parents[2]
LEVELS = 5
ETH = 0
WORKER_READY_TIMEOUT_S = 60.0
LEASE_EXPIRY_TIMEOUT_S = 25.0
RESTORE_TIMEOUT_S = 10.0


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


def _grid_ok(simulator: Any, account_index: int, bot: GridBot) -> bool:
    orders = sim_open_orders(simulator, account_index, ETH)
    ours = set(Order.objects.filter(bot=bot).values_list("client_order_index", flat=True))
    indexes = [o.client_order_index for o in orders]
    return (
        len(orders) == 2 * LEVELS
        and len(set(indexes)) == len(indexes)
        and len({(o.is_ask, o.price) for o in orders}) == len(orders)
        and set(indexes) <= ours
    )


def _sim_trade_ids(simulator: Any, account_index: int) -> list[int]:
    return simulator.call(
        lambda: [t.trade_id for t in simulator.engine.state.history.by_account[account_index]]
    )


def _fills_recorded(simulator: Any, account_index: int, bot: GridBot) -> bool:
    recorded = sorted(Fill.objects.filter(bot=bot).values_list("trade_id", flat=True))
    return recorded == sorted(set(_sim_trade_ids(simulator, account_index)))


def test_sigkilled_worker_is_replaced_without_duplicates_or_missed_fills(
    simulator, funded_account, redis_client, worker_env
):
    account = account_on(simulator, funded_account)
    bot = grid_bot(account, "ETH", levels=LEVELS)
    GridBot.objects.filter(pk=bot.pk).update(desired_state="stopped", lease_fence=0)
    bot.refresh_from_db()
    index = funded_account.index
    first = Worker(worker_env)
    second: Worker | None = None
    try:
        first.wait_ready()
        services.bot_start(bot, actor="test")  # enqueues run_bot_task on commit
        wait_for(lambda: _grid_ok(simulator, index, bot), 30, "the first grid\n" + first.output())
        before = {o.client_order_index for o in sim_open_orders(simulator, index, ETH)}

        first.kill()
        # While no runner lives, the price moves through two sells: fills the runner missed.
        simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "3012.00"})
        simulator.advance(1000)
        missed = _sim_trade_ids(simulator, index)
        assert missed, "the price move should fill some sells while the worker is dead"
        wait_for(
            lambda: lease_holder(redis_client, bot.pk) is None,
            LEASE_EXPIRY_TIMEOUT_S,
            "the dead worker's lease to expire",
        )

        second = Worker(worker_env)
        second.wait_ready()
        restarted = supervise_bots_task()
        assert restarted["restarted"] == [bot.pk]
        took = wait_for(
            lambda: _grid_ok(simulator, index, bot) and _fills_recorded(simulator, index, bot),
            RESTORE_TIMEOUT_S,
            "the grid restored with every fill recorded",
        )

        after = {o.client_order_index for o in sim_open_orders(simulator, index, ETH)}
        assert before & after, "resting orders were adopted, not placed again"
        assert Fill.objects.filter(bot=bot).count() == len(set(missed))
        bot.refresh_from_db()
        assert bot.status == "running" and bot.crash_count == 1
        print(f"grid restored {took:.2f}s after the supervisor's restart")

        services.bot_stop(bot, actor="test")
        wait_for(
            lambda: GridBot.objects.get(pk=bot.pk).status == "stopped", 20, "the stop to finish"
        )
        assert sim_open_orders(simulator, index, ETH) == []
    finally:
        first.kill()
        if second is not None:
            second.stop()
