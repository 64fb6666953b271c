"""Market data for backtests (1-minute candles, hourly funding rates) and backtest runs.

Candles and funding rates are keyed by (network, exchange market id, time in epoch
milliseconds), not by a `Market` row, so data can be imported or recorded before the market list
is synced. Times are integers (epoch ms) because a backtest loads a year of them at once
(`bots.backtest.store`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models

from bots.models.accounts import Network
from bots.models.fields import money_field

MINUTE_MS = 60_000
HOUR_MS = 3_600_000


class Candle(models.Model):
    """One 1-minute OHLCV candle; `open_time_ms` is the minute's start (a multiple of 60 000)."""

    network = models.CharField(max_length=10, choices=Network.choices)
    market_id = models.PositiveIntegerField()
    open_time_ms = models.BigIntegerField()
    open = money_field()
    high = money_field()
    low = money_field()
    close = money_field()
    volume = money_field(default=Decimal(0))

    class Meta:
        ordering = ["network", "market_id", "open_time_ms"]
        constraints = [
            models.UniqueConstraint(
                fields=["network", "market_id", "open_time_ms"], name="candle_unique_minute"
            )
        ]

    def __str__(self) -> str:
        return f"{self.network}/{self.market_id} @ {self.open_time_ms}"


class CandleDay(models.Model):
    """One UTC day of one market's candles packed for loading (`bots.backtest.store`): derived
    from the `Candle` rows of that day, rebuilt by every write path of the store. `day` is the
    day's number since the epoch (open time in ms // 86 400 000); `data` is the packed day
    (format in `store.pack_day`)."""

    network = models.CharField(max_length=10, choices=Network.choices)
    market_id = models.PositiveIntegerField()
    day = models.IntegerField()
    rows = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        ordering = ["network", "market_id", "day"]
        constraints = [
            models.UniqueConstraint(
                fields=["network", "market_id", "day"], name="candle_day_unique_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.network}/{self.market_id} day {self.day} ({self.rows} candles)"


class FundingRate(models.Model):
    """The realised funding rate of one hour (positive: longs pay shorts)."""

    network = models.CharField(max_length=10, choices=Network.choices)
    market_id = models.PositiveIntegerField()
    time_ms = models.BigIntegerField()
    rate = models.DecimalField(max_digits=20, decimal_places=12)

    class Meta:
        ordering = ["network", "market_id", "time_ms"]
        constraints = [
            models.UniqueConstraint(
                fields=["network", "market_id", "time_ms"], name="funding_rate_unique_hour"
            )
        ]

    def __str__(self) -> str:
        return f"{self.network}/{self.market_id} funding @ {self.time_ms}: {self.rate}"


class BacktestStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class BacktestMode(models.TextChoices):
    FILL_MODEL = "fill_model", "Fill model (candle path)"
    VENUE = "venue", "Venue (the simulator's matching engine; slower)"


def _empty() -> dict[str, Any]:
    return {}


def _empty_list() -> list[Any]:
    return []


class Backtest(models.Model):
    """One backtest run of a grid config over stored candles (see README "Backtest")."""

    bot = models.ForeignKey(
        "bots.GridBot", null=True, blank=True, on_delete=models.SET_NULL, related_name="backtests"
    )
    market = models.ForeignKey("bots.Market", on_delete=models.PROTECT, related_name="backtests")
    # The bot's settings when the backtest was asked for (GridBot field names, strings).
    config = models.JSONField(default=_empty)
    start_ms = models.BigIntegerField()
    end_ms = models.BigIntegerField()
    mode = models.CharField(
        max_length=12, choices=BacktestMode.choices, default=BacktestMode.FILL_MODEL
    )
    tier = models.CharField(max_length=10, default="standard")
    slippage_bps = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("5"))
    status = models.CharField(
        max_length=8, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    error = models.TextField(blank=True, default="")
    results = models.JSONField(default=_empty)
    equity_curve = models.JSONField(default=_empty_list)
    fills = models.JSONField(default=_empty_list)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Backtest {self.pk} of {self.market}"


class SweepStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class BacktestSweep(models.Model):
    """Backtests of every combination of parameter lists over one range (README "Backtest")."""

    bot = models.ForeignKey(
        "bots.GridBot", null=True, blank=True, on_delete=models.SET_NULL, related_name="sweeps"
    )
    market = models.ForeignKey("bots.Market", on_delete=models.PROTECT, related_name="sweeps")
    # The bot's settings (as Backtest.config) and the lists swept: {"step": [...], ...}.
    config = models.JSONField(default=_empty)
    params = models.JSONField(default=_empty)
    start_ms = models.BigIntegerField()
    end_ms = models.BigIntegerField()
    tier = models.CharField(max_length=10, default="standard")
    slippage_bps = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("5"))
    status = models.CharField(max_length=9, choices=SweepStatus.choices, default=SweepStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")
    # One row per config run: its parameters and summary figures (strings), or its error.
    results = models.JSONField(default=_empty_list)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Sweep {self.pk} of {self.market}"
