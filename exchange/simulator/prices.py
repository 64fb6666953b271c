"""Reference-price paths per market: seeded geometric Brownian motion, CSV replay, or flat.

A path is stepped by the engine at simulated times (`next_at`); it never reads a clock. GBM
uses its own seeded `random.Random`, so the same seed always yields the same path. Prices are
exact Decimals; the engine rounds them to the market's tick.
"""

from __future__ import annotations

import csv
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

from exchange.simulator.config import PricePathConfig

MS_PER_YEAR = Decimal(365 * 86_400_000)
NEVER = 1 << 62


class PricePath:
    """A flat path: the price only moves when set explicitly."""

    kind = "flat"

    def __init__(self, initial: Decimal, *, start_ms: int) -> None:
        self.price = initial
        self.next_at = NEVER

    def saved(self) -> dict[str, Any]:
        """JSON-ready position of the path (the venue's state file)."""
        return {"kind": self.kind, "price": str(self.price), "next_at": self.next_at}

    def restore(self, data: dict[str, Any], *, shift_ms: int) -> None:
        """Continue from a saved position; steps resume `shift_ms` later (time the venue was
        down produces no prices). A path of another kind only keeps the saved price."""
        self.price = Decimal(data["price"])
        if data.get("kind") == self.kind and self.next_at != NEVER:
            self._resume(data, shift_ms)

    def _resume(self, data: dict[str, Any], shift_ms: int) -> None:
        self.next_at = int(data["next_at"]) + shift_ms

    def step(self) -> Decimal:
        """Advance one step and return the new price (flat: unchanged)."""
        return self.price

    def reset(self, price: Decimal) -> None:
        """Jump the path to `price` (tests and demos); later steps continue from it."""
        self.price = price


class GbmPath(PricePath):
    """dS/S = drift dt + volatility dW, sampled every `step_ms` (drift/volatility per year)."""

    kind = "gbm"

    def __init__(self, initial: Decimal, config: PricePathConfig, *, start_ms: int, seed: int):
        super().__init__(initial, start_ms=start_ms)
        self.step_ms = config.step_ms
        self.next_at = start_ms + config.step_ms
        self._rng = random.Random(seed)
        dt = Decimal(config.step_ms) / MS_PER_YEAR
        self._drift = (config.drift - config.volatility**2 / 2) * dt
        self._scale = config.volatility * dt.sqrt()

    def step(self) -> Decimal:
        """Draw the next log-return and move the price."""
        shock = Decimal(self._rng.gauss(0.0, 1.0))
        self.price = self.price * (self._drift + self._scale * shock).exp()
        self.next_at += self.step_ms
        return self.price

    def saved(self) -> dict[str, Any]:
        """Position plus the generator's state, so the path goes on exactly as it would have."""
        version, internal, gauss_next = self._rng.getstate()
        return {**super().saved(), "rng": [version, list(internal), gauss_next]}

    def _resume(self, data: dict[str, Any], shift_ms: int) -> None:
        super()._resume(data, shift_ms)
        version, internal, gauss_next = data["rng"]
        self._rng.setstate((version, tuple(internal), gauss_next))


class CsvPath(PricePath):
    """Replays prices from a CSV column; rows are `step_ms` apart (or use a `timestamp` column
    in ms), played `replay_speed` times faster than recorded. Holds the last price at the end."""

    kind = "csv"

    def __init__(self, config: PricePathConfig, *, start_ms: int) -> None:
        if config.csv_path is None:
            raise ValueError("csv price path needs csv_path")
        prices, offsets = read_csv_prices(Path(config.csv_path), config.csv_column, config.step_ms)
        if not prices:
            raise ValueError(f"no prices in {config.csv_path}")
        super().__init__(prices[0], start_ms=start_ms)
        speed = config.replay_speed
        self._times = [start_ms + int(Decimal(off) / speed) for off in offsets]
        self._prices = prices
        self._pos = 0
        self.next_at = self._times[1] if len(prices) > 1 else NEVER

    def step(self) -> Decimal:
        """Move to the next recorded price."""
        self._pos += 1
        self.price = self._prices[self._pos]
        more = self._pos + 1 < len(self._prices)
        self.next_at = self._times[self._pos + 1] if more else NEVER
        return self.price

    def saved(self) -> dict[str, Any]:
        """Position in the replay (the rows themselves come from the CSV file again)."""
        return {**super().saved(), "pos": self._pos}

    def _resume(self, data: dict[str, Any], shift_ms: int) -> None:
        pos = int(data["pos"])
        if not 0 <= pos < len(self._prices):
            return  # another file now: replay it from the start
        self._pos = pos
        next_at = int(data["next_at"])
        if next_at == NEVER or pos + 1 >= len(self._prices):
            self.next_at = NEVER
            return
        # Re-time the rest of the replay so the next row comes when it would have.
        delta = next_at + shift_ms - self._times[pos + 1]
        self._times = [t + delta for t in self._times]
        self.next_at = self._times[pos + 1]


def read_csv_prices(path: Path, column: str, step_ms: int) -> tuple[list[Decimal], list[int]]:
    """(prices, offsets in ms from the first row) from a CSV file with a header row."""
    prices: list[Decimal] = []
    stamps: list[int] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            prices.append(Decimal(row[column]))
            if row.get("timestamp"):
                stamps.append(int(row["timestamp"]))
    if len(stamps) == len(prices) and stamps:
        return prices, [s - stamps[0] for s in stamps]
    return prices, [i * step_ms for i in range(len(prices))]


def make_path(
    initial: Decimal, config: PricePathConfig | None, *, start_ms: int, seed: int
) -> PricePath:
    """The path a market's config asks for (flat when there is none)."""
    if config is None or config.kind == "flat":
        return PricePath(initial, start_ms=start_ms)
    if config.kind == "gbm":
        return GbmPath(
            initial,
            config,
            start_ms=start_ms,
            seed=config.seed if config.seed is not None else seed,
        )
    if config.kind == "csv":
        return CsvPath(config, start_ms=start_ms)
    raise ValueError(f"unknown price path kind {config.kind!r}")
