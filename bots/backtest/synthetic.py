"""Seeded synthetic 1-minute candles (geometric Brownian motion) for tests and the benchmark.

Generated with floats from `random.Random(seed)` and rounded to the tick as Decimal strings, so a
seed always gives the same candles; the kernel itself never sees a float.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal

from bots.backtest.kernel import MINUTE_MS, CandleSeries

MINUTES_PER_YEAR = 525_600


def gbm_candles(
    n: int,
    *,
    seed: int = 1,
    start_price: float = 3000.0,
    volatility: float = 0.6,
    price_decimals: int = 2,
    start_ms: int = 1_735_689_600_000,
    substeps: int = 4,
) -> CandleSeries:
    """`n` candles of a GBM with annual `volatility`, each built from `substeps` ticks."""
    rng = random.Random(seed)
    sigma = volatility * math.sqrt(1.0 / MINUTES_PER_YEAR / substeps)
    quantum = 10.0**price_decimals
    price = start_price
    times: list[int] = []
    opens: list[Decimal] = []
    highs: list[Decimal] = []
    lows: list[Decimal] = []
    closes: list[Decimal] = []
    cache: dict[int, Decimal] = {}

    def dec(value: float) -> Decimal:
        ticks = max(1, round(value * quantum))
        found = cache.get(ticks)
        if found is None:
            found = cache[ticks] = Decimal(ticks).scaleb(-price_decimals)
        return found

    for i in range(n):
        o = hi = lo = price
        for _ in range(substeps):
            price *= math.exp(sigma * rng.gauss(0.0, 1.0) - sigma * sigma / 2)
            hi = max(hi, price)
            lo = min(lo, price)
        times.append(start_ms + i * MINUTE_MS)
        opens.append(dec(o))
        highs.append(dec(hi))
        lows.append(dec(lo))
        closes.append(dec(price))
    return CandleSeries(times, opens, highs, lows, closes)
