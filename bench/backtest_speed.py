"""Backtest speed: candles per second of the kernel on a seeded GBM year of 1-minute ETH-like
candles: the specialised grid kernel (`fastgrid.py`, the default) against the live-core kernel
(the live GridStrategy driven by the fill model, `Settings.live_core`) in interleaved runs
(--kernel-repeats each, best and median, and whether their Results are equal), the default path
against the reference walk (`Settings.eager`: every point walked and decided) on the first
--reference-minutes; the venue mode's candles per second (the same candles through the
simulator's matching engine) on the first --venue-minutes of it (and at 5 bps on its first day),
configs per minute of a sweep, and (with --db) the candle store's year load (percentiles of
--repeats loads, wall and CPU). Prints figures; asserts nothing.

    python bench/backtest_speed.py [--minutes 525600] [--fine-minutes 43200] [--kernel-repeats 3]
                                   [--reference-minutes 43200] [--venue-minutes 43200]
                                   [--sweep 100] [--sweep-minutes 43200] [--db] [--repeats 7]
                                   [--load-only]

--db imports the year into the database of DATABASE_URL (market id 9999 of "paper"), loads it
--repeats times and deletes it again; --load-only (with --db) skips the kernel's figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import astuple, replace
from decimal import Decimal
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bots.backtest import venue
from bots.backtest.engine import run
from bots.backtest.kernel import CandleSeries, Result, Settings
from bots.backtest.synthetic import gbm_candles
from bots.strategies.grid import GridConfig, SizeMode, Spacing

SEED = 42


def eth_config(step_bps: int, levels: int = 5) -> GridConfig:
    """ETH-like market (2 price decimals, 4 size decimals, 10 USDC minimum), 100 USDC a level."""
    return GridConfig(
        spacing=Spacing.GEOMETRIC,
        step=Decimal(step_bps) / 10_000,
        levels_per_side=levels,
        size_mode=SizeMode.QUOTE,
        size=Decimal(100),
        tick_size=Decimal("0.01"),
        lot_size=Decimal("0.0001"),
        min_base_amount=Decimal("0.0050"),
        min_quote_amount=Decimal(10),
        max_position_notional=Decimal(5000),
    )


def settings_of(config: GridConfig) -> Settings:
    return Settings(config=config, maker_fee_ppm=40, taker_fee_ppm=280)


def measure(
    label: str, config: GridConfig, candles: CandleSeries, *, mode: str = "fill",
    eager: bool = False,
) -> Result:  # fmt: skip
    settings = replace(settings_of(config), eager=eager)
    cpu = time.process_time()
    result = (venue.run if mode == "venue" else run)(settings, candles)
    spent = time.process_time() - cpu
    path = "reference" if eager else "fast"
    print(
        f"{label} ({mode}, {path}): {len(candles)} candles in {spent:.2f} s CPU = "
        f"{len(candles) / spent:,.0f} candles/s; {len(result.fills)} fills, "
        f"total PnL {result.summary()['total']}"
    )
    return result


def against_reference(label: str, config: GridConfig, candles: CandleSeries) -> None:
    """The fast path and the reference walk on the same candles: speeds and sameness."""
    fast = measure(label, config, candles)
    reference = measure(label, config, candles, eager=True)
    print(f"{label}: fast == reference: {fast == replace(reference, refused=fast.refused)}")


def kernels(label: str, config: GridConfig, candles: CandleSeries, repeats: int) -> None:
    """The fast kernel and the live-core kernel, interleaved: candles/s best and median."""
    speeds: dict[str, list[float]] = {"fast": [], "live core": []}
    results: dict[str, Result] = {}
    for _ in range(repeats):
        for name, live_core in (("fast", False), ("live core", True)):
            settings = replace(settings_of(config), live_core=live_core)
            cpu = time.process_time()
            results[name] = run(settings, candles)
            speeds[name].append(len(candles) / (time.process_time() - cpu))
    for name, values in speeds.items():
        ordered = sorted(values)
        print(f"{label}, {name} kernel: {len(candles)} candles, best {ordered[-1]:,.0f} "
              f"candles/s, median {ordered[len(ordered) // 2]:,.0f} ({repeats} runs)")  # fmt: skip
    fast, live = sorted(speeds["fast"]), sorted(speeds["live core"])
    same = results["fast"] == results["live core"]
    print(f"{label}: fast / live core: best {fast[-1] / live[-1]:.2f}x, median "
          f"{fast[len(fast) // 2] / live[len(live) // 2]:.2f}x; "
          f"{len(results['fast'].fills)} fills; same Result: {same}")  # fmt: skip


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return f"p50 {at(0.5):.3f} s, p90 {at(0.9):.3f} s, max {ordered[-1]:.3f} s"


def head(candles: CandleSeries, n: int) -> CandleSeries:
    return CandleSeries(*(column[:n] for column in (
        candles.times, candles.opens, candles.highs, candles.lows, candles.closes)))  # fmt: skip


_SWEEP: CandleSeries | None = None


def _init(minutes: int) -> None:
    global _SWEEP
    _SWEEP = gbm_candles(minutes, seed=SEED)


def _one(args: tuple[int, int]) -> str:
    assert _SWEEP is not None
    step_bps, levels = args
    return str(run(settings_of(eth_config(step_bps, levels)), _SWEEP).total)


def sweep(count: int, minutes: int) -> None:
    grid = [(10 + 10 * (i % 10), 2 + i // 10) for i in range(count)]
    processes = os.cpu_count() or 1
    started = time.perf_counter()
    with Pool(processes, initializer=_init, initargs=(minutes,)) as pool:
        totals = pool.map(_one, grid)
    spent = time.perf_counter() - started
    print(
        f"sweep: {count} configs (step 10..100 bps x 2..11 levels) over {minutes} candles on "
        f"{processes} processes in {spent:.1f} s wall = {count / spent * 60:.1f} configs/minute "
        f"({count * minutes / spent:,.0f} candles/s in all); best total {max(map(Decimal, totals))}"
    )


def store_load(candles: CandleSeries, repeats: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lighterweb.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bots.backtest import csvfile, store
    from bots.models import Candle
    from bots.models.backtest import CandleDay

    def clear() -> None:
        Candle.objects.filter(network="paper", market_id=9999).delete()
        CandleDay.objects.filter(network="paper", market_id=9999).delete()

    call_command("migrate", verbosity=0)
    clear()
    rows = [
        csvfile.CsvCandle(t, o, h, low, c, Decimal(1))
        for t, o, h, low, c in zip(
            candles.times, candles.opens, candles.highs, candles.lows, candles.closes, strict=True
        )
    ]
    started = time.perf_counter()
    store.import_parsed("paper", 9999, csvfile.ParsedFile(rows, len(rows), 0, 0))
    print(f"store ({connection.vendor}): import {len(rows)} candles in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    try:
        walls: list[float] = []
        cpus: list[float] = []
        for _ in range(repeats):
            started, cpu = time.perf_counter(), time.process_time()
            loaded = store.load_candles("paper", 9999, 0, 2**62)
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
        print(f"store ({connection.vendor}): load {len(loaded)} candles x {repeats}: "
              f"wall {percentiles(walls)}; CPU {percentiles(cpus)}")  # fmt: skip
        assert list(loaded.closes) == list(candles.closes)
        assert loaded == store.load_candles_by_row("paper", 9999, 0, 2**62)
    finally:
        clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=int, default=525_600)
    parser.add_argument("--fine-minutes", type=int, default=43_200)
    parser.add_argument("--kernel-repeats", type=int, default=3)
    parser.add_argument("--reference-minutes", type=int, default=43_200)
    parser.add_argument("--venue-minutes", type=int, default=43_200)
    parser.add_argument("--sweep", type=int, default=100)
    parser.add_argument("--sweep-minutes", type=int, default=43_200)
    parser.add_argument("--db", action="store_true")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--load-only", action="store_true")
    args = parser.parse_args()
    started = time.process_time()
    year = gbm_candles(args.minutes, seed=SEED)
    print(
        f"generated {len(year)} GBM candles (seed {SEED}) in {time.process_time() - started:.1f} s"
    )
    if args.load_only:
        if args.db:
            store_load(year, args.repeats)
        return
    fine = head(year, args.fine_minutes)
    if args.kernel_repeats:
        kernels("5 levels at 50 bps, a year", eth_config(50), year, args.kernel_repeats)
        kernels("5 levels at 5 bps, --fine-minutes", eth_config(5), fine, args.kernel_repeats)
    else:
        measure("5 levels at 50 bps", eth_config(50), year)
        measure("5 levels at 5 bps", eth_config(5), fine)
    if args.reference_minutes:
        span = head(year, args.reference_minutes)
        against_reference("5 levels at 50 bps, reference span", eth_config(50), span)
        against_reference("5 levels at 5 bps, reference span", eth_config(5), span)
    if args.venue_minutes:
        part = head(year, args.venue_minutes)
        fast = measure("5 levels at 50 bps, venue span", eth_config(50), part)
        slow = measure("5 levels at 50 bps, venue span", eth_config(50), part, mode="venue")
        same = [astuple(f)[1:] for f in fast.fills] == [astuple(f)[1:] for f in slow.fills]
        print(f"venue vs fill model on that span: same fills {same}, totals "
              f"{fast.summary()['total']} / {slow.summary()['total']}")  # fmt: skip
        busy = head(year, min(args.venue_minutes, 1440))
        fast = measure("5 levels at 5 bps, venue span", eth_config(5), busy)
        slow = measure("5 levels at 5 bps, venue span", eth_config(5), busy, mode="venue")
        same = [astuple(f)[1:] for f in fast.fills] == [astuple(f)[1:] for f in slow.fills]
        print(f"venue vs fill model on that span: same fills {same}")
    if args.sweep:
        sweep(args.sweep, args.sweep_minutes)
    if args.db:
        store_load(year, args.repeats)


if __name__ == "__main__":
    main()
