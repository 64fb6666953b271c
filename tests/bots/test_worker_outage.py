"""A bots worker dead for two minutes: the supervisor keeps one restart queued per bot instead of
calling it a crash loop, the bots resume when a worker returns, and a restart queued for a bot
that was marked *error* meanwhile starts nothing (a real `celery worker -Q bots` subprocess, the
simulator on a real port; the two minutes are the supervisor's `now`, not a sleep)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bots.engine.supervisor import bots_supervise
from bots.models import BotEvent, GridBot
from bots.tasks import bot_orders_cancel_task, run_bot_task
from tests.bots.runner_support import account_on, grid_bot, sim_open_orders
from tests.bots.worker_support import LEVELS, Worker, wait_for, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
__all__ = ["worker_env"]  # the fixture, imported for this module's tests

ETH, BTC = 0, 1


def test_a_worker_dead_for_two_minutes_resumes_its_bots_and_never_starts_an_errored_one(
    simulator, funded_account, redis_client, worker_env
):
    account = account_on(simulator, funded_account)
    index = funded_account.index
    lost = timezone.now() - timedelta(minutes=5)  # the runners died with the worker
    resumes = grid_bot(account, "BTC", levels=LEVELS)
    errored = grid_bot(account, "ETH", levels=LEVELS)
    GridBot.objects.filter(pk__in=[resumes.pk, errored.pk]).update(
        status="running", heartbeat_at=lost, lease_fence=0
    )
    start = timezone.now()
    # Beat every 5 s for two minutes, no bots worker alive: restarts are queued, none taken.
    for tick in range(0, 121, 5):
        report = bots_supervise(
            redis_client,
            now=start + timedelta(seconds=tick),
            enqueue_run=run_bot_task.delay,
            enqueue_cancel=bot_orders_cancel_task.delay,
        )
        assert report.errored == []
    # Meanwhile the other bot is marked error (say its runner reported a permanent fault).
    GridBot.objects.filter(pk=errored.pk).update(status="error", status_message="permanent")

    worker = Worker(worker_env)
    try:
        worker.wait_ready()
        wait_for(
            lambda: (
                GridBot.objects.get(pk=resumes.pk).status == "running"
                and len(sim_open_orders(simulator, index, BTC)) == 2 * LEVELS
            ),
            30,
            "the bot resumed with its grid\n" + worker.output(),
        )

        def errored_task_done() -> bool:
            refused = "in error since this task was queued" in worker.output()
            started = GridBot.objects.get(pk=errored.pk).started_at is not None
            return refused or started or bool(sim_open_orders(simulator, index, ETH))

        wait_for(errored_task_done, 30, "the errored bot's queued restart\n" + worker.output())
    finally:
        GridBot.objects.filter(pk=resumes.pk).update(desired_state="stopped")
        wait_for(lambda: GridBot.objects.get(pk=resumes.pk).status == "stopped", 20, "the stop")
        worker.stop()

    row = GridBot.objects.get(pk=resumes.pk)
    assert row.crash_count == 1, "one restart counted for the dead worker, none for the wait"
    assert not BotEvent.objects.filter(kind="crash_loop").exists()
    refused = GridBot.objects.get(pk=errored.pk)
    assert refused.status == "error" and refused.started_at is None
    assert sim_open_orders(simulator, index, ETH) == [], "the errored bot placed nothing"
