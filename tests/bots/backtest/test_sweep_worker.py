"""A sweep on a real default-queue worker as the Procfile runs it (prefork: the task runs in a
daemonic child, which still starts the sweep's processes): the rows equal the in-process run,
the progress advances while it runs, and a cancel ends it while configs are still running."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse

from bots.backtest import csvfile, store, sweeps
from bots.backtest.synthetic import gbm_candles
from bots.backtest.tasks import sweep_run_task
from bots.models import BacktestSweep
from tests.bots.worker_support import wait_for
from tests.browser import live_stack
from tests.lighterweb.factories import make_account, make_bot, make_market

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LOG = live_stack.ARTIFACTS / "sweep-worker" / "worker.log"
START = 1_735_689_600_000
MINUTES = 1500
DONE_WITHIN_S = 120.0


@pytest.fixture
def worker(redis_url: str, settings) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = redis_url
    env = live_stack.stack_env(live_stack.database_url(connection.settings_dict), redis_url)
    env["BACKTEST_SWEEP_PROCESSES"] = "2"
    command = [
        live_stack._bin("celery"), "-A", "lighterweb", "worker", "-Q", "celery", "-c", "1",
        "-n", f"sweep-test-{os.getpid()}@%h", "--without-heartbeat", "--without-gossip",
        "--without-mingle",
    ]  # fmt: skip
    with live_stack.running(command, env, LOG) as process:
        yield process


@pytest.fixture
def bot():  # type: ignore[no-untyped-def]
    market = make_market(network="paper", market_id=0, symbol="ETH", last_price=D(4000))
    series = gbm_candles(MINUTES, seed=11, start_price=4000.0, volatility=1.5, start_ms=START)
    rows = [
        csvfile.CsvCandle(t, o, h, low, c, D(1))
        for t, o, h, low, c in zip(
            series.times, series.opens, series.highs, series.lows, series.closes, strict=True
        )
    ]
    store.import_parsed("paper", 0, csvfile.ParsedFile(rows, len(rows), 0, 0))
    return make_bot(make_account(), market, step=D("4"), levels_per_side=3, size=D("0.01"))


def _state(pk: int) -> BacktestSweep:
    return BacktestSweep.objects.get(pk=pk)


def test_worker_runs_the_sweep_in_processes_with_progress_and_cancel(  # type: ignore[no-untyped-def]
    worker, bot, admin_client
) -> None:
    end = START + MINUTES * 60_000
    small = {"spacing_mode": ["arithmetic"], "step": ["2", "4"], "levels_per_side": [2, 3],
             "size": ["0.01"]}  # fmt: skip
    serial = sweeps.sweep_create(bot, small, START, end, tier="premium", slippage_bps=D(5))
    assert sweeps.sweep_execute(serial.pk, processes=1) == "done"
    on_worker = sweeps.sweep_create(bot, small, START, end, tier="premium", slippage_bps=D(5))
    connection.close()  # the worker writes the rows from its own connection
    sweep_run_task.delay(on_worker.pk)
    wait_for(lambda: _state(on_worker.pk).status == "done", DONE_WITHIN_S, "the sweep to finish")
    assert _state(on_worker.pk).results == _state(serial.pk).results

    # A long sweep: the progress advances config by config, then a cancel stops it.
    steps = [str(2 + i) for i in range(12)]
    big = {**small, "step": steps, "levels_per_side": [2, 3, 4]}
    long = sweeps.sweep_create(bot, big, START, end, tier="premium", slippage_bps=D(5))
    sweep_run_task.delay(long.pk)
    seen: set[int] = set()

    def advanced() -> bool:
        seen.add(_state(long.pk).progress)
        return any(0 < p < 100 for p in seen)

    wait_for(advanced, DONE_WITHIN_S, "the sweep's progress to advance")
    response = admin_client.post(reverse("admin:bots_backtestsweep_cancel", args=[long.pk]))
    assert response.status_code == 302
    wait_for(lambda: _state(long.pk).status == "cancelled", 30, "the sweep to stop")
    stopped = _state(long.pk)
    assert 0 < len(stopped.results) < 36 and stopped.progress < 100
    assert stopped.finished_at is not None
    # The rows it kept are configs' rows in the combinations' order (a killed config has none).
    order = {(str(c["step"]), str(c["levels_per_side"])): i
             for i, c in enumerate(sweeps.combinations(big))}  # fmt: skip
    kept = [order[(r["step"], r["levels_per_side"])] for r in stopped.results]
    assert kept == sorted(kept)
