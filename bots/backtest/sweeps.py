"""Sweeps: one backtest per combination of parameter lists, over candles loaded once.

`sweep_execute` runs in the Celery task `bots.backtest.tasks.sweep_run_task` (default queue). It
runs the configs on `settings.BACKTEST_SWEEP_PROCESSES` worker processes (0: one per core, 1: in
the task's own process; `bots.backtest.parallel`). After each finished config it saves the rows
so far (in the combinations' order) and the progress; once the sweep's `cancel_requested` is
set, no further config starts and the running ones end within a fraction of a second. Every
config runs the same kernel on the same data, so the rows do not depend on the process count.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from bots.backtest import kernel, parallel, store
from bots.backtest.runs import bot_fields, config_snapshot
from bots.models import BacktestSweep, GridBot, SweepStatus

logger = logging.getLogger(__name__)

# The parameters a sweep may vary, in the order of the table's columns.
SWEPT = ("spacing_mode", "step", "levels_per_side", "size")
MAX_CONFIGS = 400
FIGURES = ("total", "grid_profit", "fees", "max_drawdown", "return_percent", "apr_percent",
           "round_trips", "fill_count", "time_at_cap_percent")  # fmt: skip


def combinations(params: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the swept lists, in a fixed order."""
    lists = [params[name] for name in SWEPT]
    return [dict(zip(SWEPT, values, strict=True)) for values in itertools.product(*lists)]


def sweep_create(
    bot: GridBot,
    params: dict[str, list[Any]],
    start_ms: int,
    end_ms: int,
    *,
    tier: str,
    slippage_bps: Decimal,
) -> BacktestSweep:
    """A queued sweep of `bot`'s settings with the swept parameters replaced by `params`."""
    if len(combinations(params)) > MAX_CONFIGS:
        raise ValueError(f"params: at most {MAX_CONFIGS} combinations")
    return BacktestSweep.objects.create(
        bot=bot,
        market=bot.market,
        config=config_snapshot(bot),
        params=params,
        start_ms=start_ms,
        end_ms=end_ms,
        tier=tier,
        slippage_bps=slippage_bps,
    )


def _settings(sweep: BacktestSweep, combo: dict[str, Any]) -> kernel.Settings:
    fields = bot_fields({**sweep.config, **combo})
    bot = GridBot(market=sweep.market, **fields)
    maker, taker = kernel.TIER_FEES_PPM.get(sweep.tier, (0, 0))
    return kernel.Settings(
        config=bot.grid_config(),
        maker_fee_ppm=maker,
        taker_fee_ppm=taker,
        slippage_bps=sweep.slippage_bps,
        leverage=bot.leverage,
    )


def sweep_execute(sweep_id: int, processes: int | None = None) -> str:
    """Run a queued sweep to the end, or until it is cancelled. `processes` overrides the
    setting `BACKTEST_SWEEP_PROCESSES` (0: one per core, 1: in this process)."""
    with transaction.atomic():
        sweep = BacktestSweep.objects.select_for_update().select_related("market").get(pk=sweep_id)
        if sweep.status != SweepStatus.QUEUED:
            return sweep.status
        sweep.status = SweepStatus.RUNNING
        sweep.save(update_fields=["status"])
    market = sweep.market
    try:
        candles = store.load_candles(market.network, market.market_id, sweep.start_ms, sweep.end_ms)
        if len(candles) == 0:
            raise ValueError("no stored candles in this range (import or record some first)")
        funding = store.load_funding(market.network, market.market_id, sweep.start_ms, sweep.end_ms)
        combos = combinations(sweep.params)
        configs: list[parallel.Config] = []
        for combo in combos:
            try:
                configs.append(_settings(sweep, combo))
            except ValueError as exc:  # a combination the grid refuses (e.g. off-tick step)
                configs.append(str(exc))
        rows: dict[int, dict[str, Any]] = {}

        def done(index: int, figures: dict[str, Any]) -> None:
            rows[index] = {name: str(value) for name, value in combos[index].items()} | figures
            BacktestSweep.objects.filter(pk=sweep.pk).update(
                results=[rows[i] for i in sorted(rows)], progress=len(rows) * 100 // len(combos)
            )

        configured = settings.BACKTEST_SWEEP_PROCESSES if processes is None else processes
        finished = parallel.run_configs(
            configs,
            candles,
            funding,
            FIGURES,
            processes=parallel.processes_for(configured, len(configs)),
            stop=_cancel_requested(sweep.pk),
            done=done,
        )
        if not finished:
            _finish(sweep, SweepStatus.CANCELLED)
            return SweepStatus.CANCELLED
    except ValueError as exc:
        _finish(sweep, SweepStatus.FAILED, str(exc))
        return SweepStatus.FAILED
    except Exception:
        logger.exception("sweep %s crashed", sweep.pk)
        _finish(sweep, SweepStatus.FAILED, "internal error (see the worker's log)")
        raise
    _finish(sweep, SweepStatus.DONE)
    return SweepStatus.DONE


# The in-process run asks at every 1 % of a config's candles: one query per this many seconds.
CANCEL_CHECK_S = 0.2


def _cancel_requested(sweep_pk: int) -> Callable[[], bool]:
    """Whether the sweep's cancel was requested, read at most every CANCEL_CHECK_S (once set,
    it stays set)."""
    checked_at: float | None = None  # monotonic seconds of the last read (not money)
    cancelled = False

    def check() -> bool:
        nonlocal checked_at, cancelled
        now = time.monotonic()
        if not cancelled and (checked_at is None or now - checked_at >= CANCEL_CHECK_S):
            checked_at = now
            cancelled = BacktestSweep.objects.filter(pk=sweep_pk, cancel_requested=True).exists()
        return cancelled

    return check


def _finish(sweep: BacktestSweep, status: str, error: str = "") -> None:
    BacktestSweep.objects.filter(pk=sweep.pk).update(
        status=status, error=error[:1000], finished_at=timezone.now()
    )


def heat_map(
    rows: list[dict[str, Any]], figure: str = "total"
) -> tuple[list[str], list[str], list[list[tuple[str, int]]]]:
    """Best `figure` per (step, levels) over the other parameters: column labels (levels), row
    labels (steps), and cells of (value, shade 0..9 by rank; -1 when empty)."""
    best: dict[tuple[str, str], Decimal] = {}
    for row in rows:
        if "error" in row:
            continue
        key = (row["step"], row["levels_per_side"])
        value = Decimal(row[figure])
        if key not in best or value > best[key]:
            best[key] = value
    steps = sorted({k[0] for k in best}, key=Decimal)
    levels = sorted({k[1] for k in best}, key=int)
    ranked = sorted(set(best.values()))
    span = max(1, len(ranked) - 1)

    def shade(value: Decimal) -> int:
        return ranked.index(value) * 9 // span

    cells = [
        [
            (str(best[(s, lv)]), shade(best[(s, lv)])) if (s, lv) in best else ("", -1)
            for lv in levels
        ]
        for s in steps
    ]
    return levels, steps, cells
