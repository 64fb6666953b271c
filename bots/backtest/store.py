"""The candle store: fast loading for backtests, imports, and coverage for the admin.

`load_candles` reads with one raw query and builds the kernel's `CandleSeries` (a year of one
market, 525 600 rows, loads in about a second or less: docs/benchmarks.md). Imports keep rows
already stored (re-importing an overlapping file adds only the new minutes).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction

from bots.backtest.csvfile import MINUTE_MS, ParsedFile, ParsedFunding, gaps_of
from bots.backtest.kernel import CandleSeries
from bots.models import Candle, FundingRate

BATCH = 5000
# Raw SQL on our own table (`Candle._meta.db_table`; a test checks the name).
TABLE = "bots_candle"
# Prices come back as doubles on every database: psycopg's numeric -> Decimal conversion is three
# times slower, and a double's shortest repr is the stored decimal exactly for prices of at most
# 15 significant digits (the import refuses more precise ones).
_LOAD = (
    "SELECT open_time_ms, CAST(open AS DOUBLE PRECISION), CAST(high AS DOUBLE PRECISION), "
    "CAST(low AS DOUBLE PRECISION), CAST(close AS DOUBLE PRECISION) FROM bots_candle "
    "WHERE network = %s AND market_id = %s AND open_time_ms >= %s AND open_time_ms < %s "
    "ORDER BY open_time_ms"
)
# Islands of consecutive minutes: time - minute x row number is constant inside one.
_ISLANDS = (
    "SELECT network, market_id, MIN(open_time_ms), MAX(open_time_ms), COUNT(*) FROM ("
    "  SELECT network, market_id, open_time_ms, open_time_ms - %s * ROW_NUMBER() OVER ("
    "    PARTITION BY network, market_id ORDER BY open_time_ms) AS island FROM bots_candle"
    ") AS numbered GROUP BY network, market_id, island ORDER BY network, market_id, 3"
)


@dataclass(frozen=True)
class ImportReport:
    """What an import did."""

    rows: int
    inserted: int
    already_stored: int
    duplicates_in_file: int
    conflicting_duplicates: int
    first_ms: int
    last_ms: int
    gaps: list[tuple[int, int]]

    def lines(self) -> list[str]:
        """A human summary (the command prints it, the admin shows it)."""
        out = [
            f"{self.rows} rows read, {self.inserted} candles stored, {self.already_stored} "
            f"already stored, {self.duplicates_in_file} duplicate rows merged "
            f"({self.conflicting_duplicates} differing: the last one kept)",
            f"range {ms_text(self.first_ms)} .. {ms_text(self.last_ms)}",
        ]
        if self.gaps:
            missing = sum((b - a) // MINUTE_MS + 1 for a, b in self.gaps)
            out.append(f"{len(self.gaps)} gaps in the file ({missing} minutes missing):")
            out += [f"  gap {ms_text(a)} .. {ms_text(b)}" for a, b in self.gaps[:20]]
            if len(self.gaps) > 20:
                out.append(f"  ... and {len(self.gaps) - 20} more")
        else:
            out.append("no gaps in the file")
        return out


def ms_text(ms: int) -> str:
    """Epoch milliseconds as UTC 'YYYY-MM-DD HH:MM'."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def import_parsed(network: str, market_id: int, parsed: ParsedFile) -> ImportReport:
    """Store a parsed file's candles for (network, market_id); rows already stored are kept."""
    times = [c.open_time_ms for c in parsed.candles]
    first, last = times[0], times[-1]
    with transaction.atomic():
        before = Candle.objects.filter(
            network=network, market_id=market_id, open_time_ms__gte=first, open_time_ms__lte=last
        ).count()
        rows = [
            Candle(
                network=network,
                market_id=market_id,
                open_time_ms=c.open_time_ms,
                open=c.open,
                high=c.high,
                low=c.low,
                close=c.close,
                volume=c.volume,
            )
            for c in parsed.candles
        ]
        Candle.objects.bulk_create(rows, batch_size=BATCH, ignore_conflicts=True)
        after = Candle.objects.filter(
            network=network, market_id=market_id, open_time_ms__gte=first, open_time_ms__lte=last
        ).count()
    inserted = after - before
    return ImportReport(
        rows=parsed.rows,
        inserted=inserted,
        already_stored=len(rows) - inserted,
        duplicates_in_file=parsed.duplicates,
        conflicting_duplicates=parsed.conflicting_duplicates,
        first_ms=first,
        last_ms=last,
        gaps=gaps_of(times),
    )


def import_funding(network: str, market_id: int, parsed: ParsedFunding) -> tuple[int, int]:
    """Store a funding file's rates (rates already stored are kept): (stored, already stored)."""
    times = list(parsed.rates)
    with transaction.atomic():
        existing = set(
            FundingRate.objects.filter(
                network=network, market_id=market_id, time_ms__in=times
            ).values_list("time_ms", flat=True)
        )
        FundingRate.objects.bulk_create(
            [
                FundingRate(network=network, market_id=market_id, time_ms=t, rate=rate)
                for t, rate in parsed.rates.items()
                if t not in existing
            ],
            batch_size=BATCH,
        )
    return len(times) - len(existing), len(existing)


def load_candles(
    network: str, market_id: int, start_ms: int, end_ms: int, *, volumes: bool = False
) -> CandleSeries:
    """Candles with `start_ms <= open time < end_ms`, in time order, as the kernel takes them
    (with their base volumes when `volumes`: for partial fills).

    One raw query; each distinct price becomes one shared Decimal (a year has a few hundred
    thousand distinct prices for two million values), built the first time it is seen. The
    garbage collector is paused meanwhile: millions of new tuples would otherwise trigger it
    over and over for nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with connection.cursor() as cursor:
            cursor.execute(_LOAD, [network, market_id, start_ms, end_ms])
            rows = cursor.fetchall()
        if not rows:
            return CandleSeries([], [], [], [], [])
        times, opens, highs, lows, closes = zip(*rows, strict=True)
        del rows
        traded = _volumes(network, market_id, start_ms, end_ms) if volumes else None
        # One pass a column: a price seen before is a dict hit (in C); a new one is built once
        # (`_Exact.__missing__`). Collecting the distinct prices first cost a second pass.
        get = _Exact().__getitem__
        prices = [list(map(get, column)) for column in (opens, highs, lows, closes)]
        o, h, low, c = prices
        return CandleSeries(list(times), o, h, low, c, traded)
    finally:
        if was_enabled:
            gc.enable()


def _volumes(network: str, market_id: int, start_ms: int, end_ms: int) -> list[Decimal]:
    """The candles' base volumes, exact, in the order of `_LOAD` (a second query: the price
    load stays as fast without them)."""
    rows = Candle.objects.filter(
        network=network, market_id=market_id, open_time_ms__gte=start_ms, open_time_ms__lt=end_ms
    ).order_by("open_time_ms")
    return list(rows.values_list("volume", flat=True))


class _Exact(dict[object, Decimal]):
    """Loaded value -> its exact Decimal, built on first sight and shared after."""

    def __missing__(self, key: object) -> Decimal:
        value = self[key] = _decimal(key)
        return value


def _decimal(value: object) -> Decimal:
    text = repr(value) if isinstance(value, float) else str(value)
    return Decimal(text.removesuffix(".0"))


def load_funding(network: str, market_id: int, start_ms: int, end_ms: int) -> dict[int, Decimal]:
    """Hourly funding rates in the range, keyed by the hour's start in ms."""
    rows = FundingRate.objects.filter(
        network=network, market_id=market_id, time_ms__gte=start_ms, time_ms__lt=end_ms
    ).values_list("time_ms", "rate")
    return dict(rows)


@dataclass(frozen=True)
class Coverage:
    """One market's stored candles: counts, covered ranges, gaps."""

    network: str
    market_id: int
    rows: int
    first_ms: int
    last_ms: int
    ranges: list[tuple[int, int]]  # covered: (first minute, last minute)
    funding_rows: int

    @property
    def gaps(self) -> list[tuple[int, int]]:
        """Missing minutes between covered ranges."""
        return [
            (a_end + MINUTE_MS, b_start - MINUTE_MS)
            for (_, a_end), (b_start, _) in zip(self.ranges, self.ranges[1:], strict=False)
        ]

    @property
    def missing_minutes(self) -> int:
        """Minutes missing between the first and the last stored minute."""
        return (self.last_ms - self.first_ms) // MINUTE_MS + 1 - self.rows


def coverage() -> list[Coverage]:
    """Every (network, market) with candles: its covered ranges (islands of whole minutes)."""
    with connection.cursor() as cursor:
        cursor.execute(_ISLANDS, [MINUTE_MS])
        found = cursor.fetchall()
    funding: dict[tuple[str, int], int] = {}
    for network, market_id, count in _funding_counts():
        funding[(network, market_id)] = count
    by_market: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
    for network, market_id, first, last, count in found:
        by_market.setdefault((network, market_id), []).append((first, last, count))
    return [
        Coverage(
            network=network,
            market_id=market_id,
            rows=sum(c for _, _, c in spans),
            first_ms=spans[0][0],
            last_ms=spans[-1][1],
            ranges=[(a, b) for a, b, _ in spans],
            funding_rows=funding.get((network, market_id), 0),
        )
        for (network, market_id), spans in by_market.items()
    ]


def _funding_counts() -> list[tuple[str, int, int]]:
    from django.db.models import Count

    rows = FundingRate.objects.values("network", "market_id").annotate(n=Count("id"))
    return [(r["network"], r["market_id"], r["n"]) for r in rows.order_by()]


def chart_buckets(series: CandleSeries, buckets: int = 1500) -> list[list[object]]:
    """The series merged into at most `buckets` OHLC bars (time in s, prices as strings) for the
    admin's chart of the stored candles."""
    n = len(series)
    size = max(1, -(-n // buckets))
    bars: list[list[object]] = []
    for start in range(0, n, size):
        end = min(n, start + size)
        bars.append(
            [
                series.times[start] // 1000,
                str(series.opens[start]),
                str(max(series.highs[start:end])),
                str(min(series.lows[start:end])),
                str(series.closes[end - 1]),
            ]
        )
    return bars
