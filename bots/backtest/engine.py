"""The backtest's entry point: the specialised grid kernel (`fastgrid.py`) for the settings it
makes exactly the live core's `Result` for (`fastgrid.supports`, proved by
tests/bots/backtest/test_fastgrid.py), the live-core kernel (`kernel.run`) for the rest and
when `Settings.live_core` asks for it. Pure, like both kernels."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from bots.backtest import fastgrid, kernel
from bots.backtest.kernel import CandleSeries, Result, Settings


def run(
    settings: Settings,
    candles: CandleSeries,
    funding: Mapping[int, Decimal] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Backtest `settings.config` over `candles` (funding rates keyed by hour start in ms);
    `progress(done, total)` is called every 1 % of the candles (for a progress bar)."""
    if len(candles) == 0:
        raise ValueError("candles: the range holds no candles")
    if not settings.live_core and fastgrid.supports(settings):
        return fastgrid.run(settings, candles, funding, progress)
    return kernel.run(settings, candles, funding, progress)
