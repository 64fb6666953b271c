"""SIGTERM to a real bots worker ends its runners at once: leases released, orders left resting
under the dead-man's switch, and the next worker resumes the bot without waiting for the lease to
expire or for the supervisor."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from bots import services
from bots.engine.leases import lease_holder
from bots.models import BotEvent, GridBot
from tests.bots.runner_support import account_on, grid_bot, sim_open_orders
from tests.bots.worker_support import ETH, LEVELS, Worker, grid_ok, wait_for, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
__all__ = ["worker_env"]  # the fixture, imported for this module's tests

# systemd's stop timeout for the bots worker (deploy/systemd): the worker must be gone before it.
STOP_TIMEOUT_S = 30


def test_sigterm_ends_the_runners_and_the_next_worker_resumes_at_once(
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
        services.bot_start(bot, actor="test")
        wait_for(lambda: grid_ok(simulator, index, bot), 30, "the first grid\n" + first.output())
        resting = {o.client_order_index for o in sim_open_orders(simulator, index, ETH)}

        os.killpg(first.process.pid, signal.SIGTERM)
        try:
            first.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError("the worker outlived SIGTERM:\n" + first.output()) from exc

        assert lease_holder(redis_client, bot.pk) is None, "the lease is released, not expiring"
        assert {o.client_order_index for o in sim_open_orders(simulator, index, ETH)} == resting
        assert GridBot.objects.get(pk=bot.pk).desired_state == "running"
        shutdown = BotEvent.objects.filter(bot=bot, kind="worker_shutdown").get()

        second = Worker(worker_env)
        second.wait_ready()

        def resumed() -> bool:
            row = GridBot.objects.get(pk=bot.pk)
            recovered = BotEvent.objects.filter(bot=bot, kind="recovered", id__gt=shutdown.id)
            return row.status == "running" and recovered.exists() and grid_ok(simulator, index, bot)

        wait_for(resumed, 20, "the bot resumed on the new worker\n" + second.output())
        after = {o.client_order_index for o in sim_open_orders(simulator, index, ETH)}
        assert after == resting, "the resting orders were adopted, not placed again"
        assert GridBot.objects.get(pk=bot.pk).crash_count == 0

        services.bot_stop(bot, actor="test")
        wait_for(
            lambda: GridBot.objects.get(pk=bot.pk).status == "stopped", 20, "the stop to finish"
        )
    finally:
        first.kill()
        if second is not None:
            second.stop()
