"""run_bot_task under its lease, with the real runner against the simulator (no worker needed:
the task function runs on threads of this process, as it would on a threads-pool worker)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from bots.engine.leases import BotLease, lease_holder
from bots.models import GridBot
from bots.tasks import run_bot_task
from tests.bots.runner_support import account_on, grid_bot, sim_open_orders

pytestmark = pytest.mark.django_db(transaction=True)

LEVELS = 3


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Re-check `condition` until it holds, or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        pause.wait(0.05)


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url


@pytest.fixture
def bot(simulator, funded_account) -> GridBot:
    bot = grid_bot(account_on(simulator, funded_account), "ETH", levels=LEVELS)
    GridBot.objects.filter(pk=bot.pk).update(lease_fence=0)
    return bot


def test_two_concurrent_runs_of_one_bot_one_runs_and_the_other_exits(
    simulator, funded_account, redis_client, bot
):
    results: dict[str, str] = {}
    first = threading.Thread(target=lambda: results.setdefault("first", run_bot_task(bot.pk)))
    first.start()
    try:
        wait_for(
            lambda: len(sim_open_orders(simulator, funded_account.index, 0)) == 2 * LEVELS,
            30,
            "the first runner's grid",
        )
        holder = lease_holder(redis_client, bot.pk)

        second = run_bot_task(bot.pk)

        assert second == "busy"
        assert lease_holder(redis_client, bot.pk) == holder
        assert GridBot.objects.get(pk=bot.pk).lease_fence == holder
        assert len(sim_open_orders(simulator, funded_account.index, 0)) == 2 * LEVELS
    finally:
        GridBot.objects.filter(pk=bot.pk).update(desired_state="stopped")
        first.join(timeout=30)
    assert results["first"] == "stopped"
    assert lease_holder(redis_client, bot.pk) is None


def test_a_run_while_another_holder_owns_the_lease_touches_nothing(
    simulator, funded_account, redis_client, bot
):
    BotLease(redis_client, bot.pk).acquire()

    assert run_bot_task(bot.pk) == "busy"

    assert sim_open_orders(simulator, funded_account.index, 0) == []
    assert GridBot.objects.get(pk=bot.pk).lease_fence == 0


def test_a_bot_stopped_while_its_task_was_queued_is_not_run(
    simulator, funded_account, redis_client, bot
):
    GridBot.objects.filter(pk=bot.pk).update(desired_state="stopped")

    assert run_bot_task(bot.pk) == "stopped"

    assert sim_open_orders(simulator, funded_account.index, 0) == []
    assert lease_holder(redis_client, bot.pk) is None


def test_a_restart_queued_before_the_bot_was_marked_error_does_not_start_it(
    simulator, funded_account, redis_client, bot
):
    GridBot.objects.filter(pk=bot.pk).update(status="error", status_message="crash loop: ...")

    assert run_bot_task(bot.pk) == "error"

    assert sim_open_orders(simulator, funded_account.index, 0) == []
    row = GridBot.objects.get(pk=bot.pk)
    assert row.status == "error" and row.started_at is None
    assert lease_holder(redis_client, bot.pk) is None
