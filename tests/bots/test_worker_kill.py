"""A real Celery bots worker is killed with SIGKILL mid-run; a new worker restores the grid.

Processes and shared state as described in `tests.bots.worker_support`.

The lease TTL is the production one (15 s); the test waits for it to run out after the kill
(that wait is the safety margin, not part of the 10 s budget), then starts the new worker and
measures from the supervisor's restart to the restored grid, waiting on that state with a 10 s
timeout.
"""

from __future__ import annotations

from typing import Any

import pytest

from bots import services
from bots.engine.leases import lease_holder
from bots.models import Fill, GridBot
from bots.tasks import supervise_bots_task
from tests.bots.runner_support import account_on, grid_bot, sim_open_orders
from tests.bots.worker_support import (
    ETH,
    LEASE_EXPIRY_TIMEOUT_S,
    LEVELS,
    Worker,
    grid_ok,
    wait_for,
    worker_env,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
__all__ = ["worker_env"]  # the fixture, imported for this module's tests

RESTORE_TIMEOUT_S = 10.0


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
        wait_for(lambda: grid_ok(simulator, index, bot), 30, "the first grid\n" + first.output())
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
            lambda: grid_ok(simulator, index, bot) and _fills_recorded(simulator, index, bot),
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
