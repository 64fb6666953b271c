"""Sweep throughput of `bots.backtest.parallel` (what `sweep_execute` runs): configs per minute
in the worker's own process (BACKTEST_SWEEP_PROCESSES=1) and on a process pool, over the same
seeded GBM candles, and whether both give the same rows. Prints figures; asserts nothing.

    python bench/sweep_parallel.py [--configs 40] [--minutes 7200] [--processes 0]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bots.backtest import parallel
from bots.backtest.kernel import Settings
from bots.backtest.synthetic import gbm_candles
from bots.strategies.grid import GridConfig, SizeMode, Spacing

FIGURES = ("total", "grid_profit", "fees", "round_trips", "fill_count")


def configs(count: int) -> list[parallel.Config]:
    """`count` geometric grids: steps 10..100 bps x 2..11 levels, 100 USDC a level."""
    out: list[parallel.Config] = []
    for i in range(count):
        config = GridConfig(
            spacing=Spacing.GEOMETRIC,
            step=Decimal(10 + 10 * (i // 10 % 10)) / 10_000,
            levels_per_side=2 + i % 10,
            size_mode=SizeMode.QUOTE,
            size=Decimal(100),
            tick_size=Decimal("0.01"),
            lot_size=Decimal("0.0001"),
            min_base_amount=Decimal("0.0050"),
            min_quote_amount=Decimal(10),
            max_position_notional=Decimal(5000),
        )
        out.append(Settings(config=config, maker_fee_ppm=40, taker_fee_ppm=280))
    return out


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (the pool's processes)."""
    me, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def timed(
    processes: int, todo: list[parallel.Config], candles: object
) -> tuple[float, float, list]:  # type: ignore[type-arg]
    rows: dict[int, dict] = {}  # type: ignore[type-arg]
    cpu = cpu_s()
    started = time.monotonic()
    parallel.run_configs(
        todo,
        candles,  # type: ignore[arg-type]
        {},
        FIGURES,
        processes=processes,
        stop=lambda: False,
        done=lambda index, row: rows.__setitem__(index, row),
    )
    return time.monotonic() - started, cpu_s() - cpu, [rows[i] for i in sorted(rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--configs", type=int, default=40)
    parser.add_argument("--minutes", type=int, default=7200)
    parser.add_argument("--processes", type=int, default=0, help="0: one per core")
    args = parser.parse_args()
    candles = gbm_candles(args.minutes, seed=42, start_price=3000.0, volatility=0.6)
    todo = configs(args.configs)
    pool = parallel.processes_for(args.processes, len(todo))
    serial_s, serial_cpu, serial_rows = timed(1, todo, candles)
    pool_s, pool_cpu, pool_rows = timed(pool, todo, candles)
    for label, spent, cpu in (
        ("in-process", serial_s, serial_cpu),
        (f"{pool} processes", pool_s, pool_cpu),
    ):
        sys.stdout.write(
            f"sweep of {len(todo)} configs over {args.minutes} candles, {label}: {spent:.1f} s "
            f"wall = {len(todo) / spent * 60:.1f} configs/minute ({cpu:.1f} s CPU)\n"
        )
    sys.stdout.write(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}\n")
    sys.stdout.write(
        f"speed-up {serial_s / pool_s:.2f}x; rows identical: {serial_rows == pool_rows}\n"
    )


if __name__ == "__main__":
    main()
