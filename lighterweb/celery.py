"""The Celery app: broker on Redis, queues `bots` (long-running bot tasks) and `celery` (short).

Tasks are acknowledged on receipt (design decision 4): with Redis as broker a late ack plus the
visibility timeout could start a second copy of a long-running bot task.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from celery import Celery
from celery.signals import beat_init, worker_ready, worker_shutting_down
from kombu.entity import Queue

from lighterweb.heap import freeze_startup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lighterweb.settings")

logger = logging.getLogger(__name__)

# What a bots worker's first bot would import (the runner, the Lighter SDK and the libraries
# under it): imported before the startup heap is frozen (`lighterweb.heap`).
BOT_RUNNER_MODULE = "bots.engine.runner"

app = Celery("lighterweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("celery"), Queue("bots"))  # type: ignore[no-untyped-call]
app.autodiscover_tasks()
app.autodiscover_tasks(["bots.notify"])
app.autodiscover_tasks(["bots.backtest"])
app.autodiscover_tasks(["bots.history"])


def write_beat_heartbeat() -> None:
    """Store "beat is alive now" in Redis; /healthz reads it."""
    from django.conf import settings

    from exchange.redis_clients import redis_client

    client = redis_client(settings.REDIS_URL, timeout_s=2)
    try:
        client.set(settings.BEAT_HEARTBEAT_KEY, f"{time.time():.3f}", ex=3600)
    finally:
        client.close()


@app.task(name="lighterweb.celery.beat_heartbeat_task", ignore_result=True)  # type: ignore[untyped-decorator]
def beat_heartbeat_task() -> None:
    """Scheduled by beat, run by a default worker: proves beat -> broker -> worker works."""
    write_beat_heartbeat()


# Supervisor: a dead runner is restarted within a few seconds of its lease expiring.
SUPERVISE_BOTS_SECONDS = 5.0
# The dead-man's switch is armed 5 minutes ahead: re-arming every minute keeps 4 in hand.
DEADMAN_SYNC_SECONDS = 60.0
# Dashboard balances: looked at every 15 s, read over REST only when older than
# bots.accounts.ACCOUNT_RECONCILE_SECONDS (a slow reconcile: the bots' state comes from streams).
ACCOUNTS_REFRESH_SECONDS = 15.0


@app.on_after_configure.connect  # type: ignore[untyped-decorator]
def _bot_schedules(sender: Celery, **kwargs: Any) -> None:
    sender.add_periodic_task(
        SUPERVISE_BOTS_SECONDS,
        sender.signature("bots.tasks.supervise_bots_task"),
        name="supervise-bots",
    )
    sender.add_periodic_task(
        DEADMAN_SYNC_SECONDS, sender.signature("bots.tasks.deadman_sync_task"), name="deadman-sync"
    )
    sender.add_periodic_task(
        ACCOUNTS_REFRESH_SECONDS,
        sender.signature("bots.tasks.accounts_refresh_task"),
        name="accounts-refresh",
    )


# Alerts: coalesced bursts go out within this of their window closing; the daily summary and
# the budget check send at most once per day / quarter hour whatever the beat frequency.
NOTIFY_FLUSH_SECONDS = 5.0
NOTIFY_SUMMARY_CHECK_SECONDS = 900.0
NOTIFY_BUDGET_CHECK_SECONDS = 60.0


@app.on_after_configure.connect  # type: ignore[untyped-decorator]
def _notify_schedules(sender: Celery, **kwargs: Any) -> None:
    for seconds, task, name in (
        (NOTIFY_FLUSH_SECONDS, "notify_flush_task", "notify-flush"),
        (NOTIFY_SUMMARY_CHECK_SECONDS, "notify_daily_summary_task", "notify-daily-summary"),
        (NOTIFY_BUDGET_CHECK_SECONDS, "notify_budget_check_task", "notify-budget-check"),
    ):
        sender.add_periodic_task(seconds, sender.signature(f"bots.notify.tasks.{task}"), name=name)


# The candle recorder (bots.backtest.recorder): once a minute, within the bots' budget share.
RECORDER_SECONDS = 60.0


@app.on_after_configure.connect  # type: ignore[untyped-decorator]
def _recorder_schedule(sender: Celery, **kwargs: Any) -> None:
    sender.add_periodic_task(
        RECORDER_SECONDS,
        sender.signature("bots.backtest.tasks.candles_record_task"),
        name="candles-record",
    )


# PnL over time (bots.history.snapshots): one snapshot per running bot per minute.
PNL_SNAPSHOT_SECONDS = 60.0


@app.on_after_configure.connect  # type: ignore[untyped-decorator]
def _pnl_snapshot_schedule(sender: Celery, **kwargs: Any) -> None:
    sender.add_periodic_task(
        PNL_SNAPSHOT_SECONDS,
        sender.signature("bots.history.tasks.pnl_snapshot_task"),
        name="pnl-snapshot",
    )


@beat_init.connect  # type: ignore[untyped-decorator]
def _heartbeat_on_beat_start(sender: Any = None, **kwargs: Any) -> None:
    # The first scheduled heartbeat only runs one interval after start; say hello right away.
    write_beat_heartbeat()


@worker_shutting_down.connect  # type: ignore[untyped-decorator]
def _end_runners_on_shutdown(sender: Any = None, **kwargs: Any) -> None:
    # SIGTERM (systemd, honcho, Ctrl-C): a bot task never ends by itself, so the warm shutdown
    # would wait for the stop timeout and the bots would resume only once their leases expired.
    # Runners end at once instead: leases released, orders left under the dead-man's switch,
    # each bot queued again for the next worker. Only a process that runs bots has the module.
    runner = sys.modules.get(BOT_RUNNER_MODULE)
    if runner is not None:
        count = runner.runners_shut_down()
        logger.info("worker shutting down: %s bot runners told to end", count)


@worker_ready.connect  # type: ignore[untyped-decorator]
def _freeze_startup_heap(sender: Any = None, **kwargs: Any) -> None:
    # The startup's objects live as long as the worker: out of every later full collection, which
    # would walk them all while every bot of the worker waits (`lighterweb.heap`).
    # A worker that takes bot tasks imports what its first bot would import before the freeze,
    # or every full collection would walk that too.
    takes_bots = "bots" in app.amqp.queues.consume_from
    frozen, preloaded = freeze_startup(preload=(BOT_RUNNER_MODULE,) if takes_bots else ())
    logger.info(
        "worker ready: %d startup objects frozen out of garbage collection "
        "(%d modules a bot runs on imported first)",
        frozen,
        preloaded,
    )


@worker_ready.connect  # type: ignore[untyped-decorator]
def _resume_bots_on_start(sender: Any = None, **kwargs: Any) -> None:
    # Bots a worker shutdown ended wait for the next worker: queue them now (by name: the
    # project's Celery app never imports the bots app's modules).
    app.send_task("bots.tasks.resume_bots_task", queue="bots")
