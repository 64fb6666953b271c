"""The candle store: fast loading for backtests, imports, and coverage for the admin.

`Candle` rows are the data; `CandleDay` rows are derived from them: one per (network, market,
UTC day) holding that day's candles packed (`pack_day`). Every write of candles goes through this
module (`import_parsed`, `store_candles`), which rebuilds the packs of the days it touched in the
same transaction, so `load_candles` reads 365 packed rows for a year instead of 525 600 candle
rows (docs/benchmarks.md). Coverage, gaps and the volumes read the candle rows. Imports keep rows
already stored (re-importing an overlapping file adds only the new minutes).
"""

from __future__ import annotations

import gc
import logging
import struct
import sys
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import groupby
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, Min, QuerySet

from bots.backtest.csvfile import MINUTE_MS, ParsedFile, ParsedFunding, gaps_of
from bots.backtest.kernel import CandleSeries
from bots.models import Candle, FundingRate
from bots.models.backtest import CandleDay

logger = logging.getLogger(__name__)

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
DAY_MS = 86_400_000
# Packed days (`CandleDay`), in day order.
_LOAD_DAYS = (
    "SELECT day, data FROM bots_candleday WHERE network = %s AND market_id = %s "
    "AND day >= %s AND day <= %s ORDER BY day"
)
_COUNT = (
    "SELECT COUNT(*), SUM(open_time_ms) FROM bots_candle WHERE network = %s AND market_id = %s "
    "AND open_time_ms >= %s AND open_time_ms < %s"
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
        _lock_market(network, market_id)
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
        if after != before:
            rebuild_days(network, market_id, first, last)
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


def store_candles(network: str, market_id: int, candles: Sequence[Candle]) -> None:
    """Store recorded candles of (network, market_id) (minutes already stored are kept) and
    rebuild the packs of the days they fall in."""
    if not candles:
        return
    with transaction.atomic():
        _lock_market(network, market_id)
        Candle.objects.bulk_create(candles, ignore_conflicts=True, batch_size=BATCH)
        times = [c.open_time_ms for c in candles]
        rebuild_days(network, market_id, min(times), max(times))


def _lock_market(network: str, market_id: int) -> None:
    """Serialize the writers of one market until the transaction ends (PostgreSQL; SQLite writes
    one at a time anyway), so each rebuilds its days' packs after the other's rows are visible."""
    if connection.vendor == "postgresql":
        key = zlib.crc32(f"candles:{network}:{market_id}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def rebuild_days(
    network: str, market_id: int, first_ms: int, last_ms: int, *, model: Any = CandleDay
) -> int:
    """Rebuild the packs of the UTC days from `first_ms`'s to `last_ms`'s from the candle rows
    (a day without rows loses its pack). Returns the number of packs written. `model` is the
    migration's historical `CandleDay` when the data migration builds them."""
    first_day, last_day = first_ms // DAY_MS, last_ms // DAY_MS
    with connection.cursor() as cursor:
        cursor.execute(_LOAD, [network, market_id, first_day * DAY_MS, (last_day + 1) * DAY_MS])
        rows = cursor.fetchall()
    packs = [
        model(network=network, market_id=market_id, day=day, rows=len(part), data=pack_day(part))
        for day, part in ((d, list(g)) for d, g in groupby(rows, key=lambda r: r[0] // DAY_MS))
    ]
    model.objects.filter(
        network=network, market_id=market_id, day__gte=first_day, day__lte=last_day
    ).delete()
    model.objects.bulk_create(packs, batch_size=100)
    return len(packs)


def delete_candles(queryset: QuerySet[Candle]) -> int:
    """Delete the candles of `queryset` and rebuild the packs of the days they were in (the
    admin's delete). Returns the candles deleted."""
    with transaction.atomic():
        spans = list(
            queryset.values("network", "market_id")
            .annotate(first=Min("open_time_ms"), last=Max("open_time_ms"))
            .order_by("network", "market_id")
        )
        for span in spans:
            _lock_market(span["network"], span["market_id"])
        deleted, _ = queryset.delete()
        for span in spans:
            rebuild_days(span["network"], span["market_id"], span["first"], span["last"])
    return deleted


def rebuild_all(*, model: Any = CandleDay, days: int = 31) -> int:
    """Rebuild every market's packs from the candle rows, `days` at a time (the data migration;
    also a repair after candles were written around this module). Returns the packs written."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT network, market_id, MIN(open_time_ms), MAX(open_time_ms) FROM bots_candle "
            "GROUP BY network, market_id ORDER BY network, market_id"
        )
        markets = cursor.fetchall()
    written = 0
    for network, market_id, first, last in markets:
        model.objects.filter(network=network, market_id=market_id).delete()
        for day in range(first // DAY_MS, last // DAY_MS + 1, days):
            end = min(last, (day + days) * DAY_MS - 1)
            written += rebuild_days(network, market_id, day * DAY_MS, end, model=model)
    return written


# A pack: header (format 1, candles n, distinct price texts k), then zlib of the n open times
# (int64), the open, high, low and close columns as indexes into the day's distinct price texts
# (uint16, or uint32 past 65 535 texts), and those texts joined by spaces. Integers are stored
# little-endian. The texts are the ones `_LOAD`'s values give (`_text`): a loaded price is
# `Decimal(text)`, the same Decimal (digits and exponent) as the row-by-row load gives.
_HEADER = struct.Struct("<BII")
_FORMAT = 1
_BIG = sys.byteorder != "little"


def pack_day(rows: Sequence[Sequence[Any]]) -> bytes:
    """One day's rows of `_LOAD` (time, open, high, low, close; in time order) packed."""
    table: dict[str, int] = {}
    texts = [
        [table.setdefault(_text(value), len(table)) for value in column]
        for column in list(zip(*rows, strict=True))[1:]
    ]
    code = "H" if len(table) <= 0xFFFF else "I"
    parts = [array("q", [r[0] for r in rows]), *(array(code, column) for column in texts)]
    if _BIG:
        for part in parts:
            part.byteswap()
    body = b"".join(part.tobytes() for part in parts) + " ".join(table).encode()
    return _HEADER.pack(_FORMAT, len(rows), len(table)) + zlib.compress(body, 6)


@dataclass(frozen=True)
class _Day:
    times: array  # type: ignore[type-arg]
    columns: list[array]  # type: ignore[type-arg]
    texts: list[str]


def _unpack(data: bytes | memoryview) -> _Day:
    version, n, k = _HEADER.unpack_from(data)
    if version != _FORMAT:
        raise ValueError(f"candle pack format {version} is not {_FORMAT}")
    body = zlib.decompress(memoryview(data)[_HEADER.size :])
    times = array("q")
    times.frombytes(body[: 8 * n])
    code = "H" if k <= 0xFFFF else "I"
    width = array(code).itemsize * n
    columns = []
    at = 8 * n
    for _ in range(4):
        column = array(code)
        column.frombytes(body[at : at + width])
        columns.append(column)
        at += width
    if _BIG:
        for part in (times, *columns):
            part.byteswap()
    return _Day(times, columns, body[at:].decode().split(" "))


def load_candles(
    network: str, market_id: int, start_ms: int, end_ms: int, *, volumes: bool = False
) -> CandleSeries:
    """Candles with `start_ms <= open time < end_ms`, in time order, as the kernel takes them
    (with their base volumes when `volumes`: for partial fills).

    Reads the packed days (`CandleDay`: 365 rows for a year) and cuts the first and the last to
    the range. Each distinct price text becomes one shared Decimal, built once; the columns are
    then built in C (`map` over the day's table). The garbage collector is paused meanwhile:
    millions of new references would otherwise trigger it over and over for nothing.
    """
    if end_ms <= start_ms:
        return CandleSeries([], [], [], [], [])
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        first_day = max(start_ms, 0) // DAY_MS
        last_day = min((end_ms - 1) // DAY_MS, 2**31 - 1)
        with connection.cursor() as cursor:
            cursor.execute(_LOAD_DAYS, [network, market_id, first_day, last_day])
            days = [_cut(_unpack(data), start_ms, end_ms) for _, data in cursor.fetchall()]
            cursor.execute(_COUNT, [network, market_id, start_ms, end_ms])
            stored, stored_sum = cursor.fetchone()
        packed = sum(len(d.times) for d in days)
        if (packed, sum(sum(d.times) for d in days)) != (stored, int(stored_sum or 0)):
            # Candles written or deleted around this module (a shell, the admin's delete): the
            # rows are the truth (their count and the sum of their times are checked against
            # the packs': a few ms); `rebuild_all` (`manage.py candles_repack`) mends the packs.
            logger.warning(
                "candle packs of %s/%s out of step with the rows (%d packed, %d stored): "
                "loading the rows; run `python manage.py candles_repack`",
                network, market_id, packed, stored,
            )  # fmt: skip
            return load_candles_by_row(network, market_id, start_ms, end_ms, volumes=volumes)
        if not packed:
            return CandleSeries([], [], [], [], [])
        shared = _Shared().__getitem__
        times: list[int] = []
        columns: list[list[Decimal]] = [[], [], [], []]
        for day in days:
            table = list(map(shared, day.texts))
            times += day.times.tolist()
            for out, column in zip(columns, day.columns, strict=True):
                out += map(table.__getitem__, column)
        traded = _volumes(network, market_id, start_ms, end_ms) if volumes else None
        o, h, low, c = columns
        return CandleSeries(times, o, h, low, c, traded)
    finally:
        if was_enabled:
            gc.enable()


class _Shared(dict[str, Decimal]):
    """Price text -> its Decimal, built on first sight (in Python, once a distinct price) and
    shared after (a dict hit, in C)."""

    def __missing__(self, key: str) -> Decimal:
        value = self[key] = Decimal(key)
        return value


def _cut(day: _Day, start_ms: int, end_ms: int) -> _Day:
    """The day's candles with `start_ms <= open time < end_ms` (days inside the range whole)."""
    times = day.times
    if not times or (times[0] >= start_ms and times[-1] < end_ms):
        return day
    lo, hi = bisect_left(times, start_ms), bisect_left(times, end_ms)
    return _Day(times[lo:hi], [column[lo:hi] for column in day.columns], day.texts)


def load_candles_by_row(
    network: str, market_id: int, start_ms: int, end_ms: int, *, volumes: bool = False
) -> CandleSeries:
    """`load_candles` from the candle rows, one by one (the reference the packs are tested
    against, and the load when the packs are out of step; slower)."""
    with connection.cursor() as cursor:
        cursor.execute(_LOAD, [network, market_id, start_ms, end_ms])
        rows = cursor.fetchall()
    if not rows:
        return CandleSeries([], [], [], [], [])
    times, *prices = zip(*rows, strict=True)
    shared = _Shared().__getitem__
    o, h, low, c = (list(map(shared, map(_text, column))) for column in prices)
    traded = _volumes(network, market_id, start_ms, end_ms) if volumes else None
    return CandleSeries(list(times), o, h, low, c, traded)


def _volumes(network: str, market_id: int, start_ms: int, end_ms: int) -> list[Decimal]:
    """The candles' base volumes, exact, in time order (from the candle rows: the packs hold
    prices only)."""
    rows = Candle.objects.filter(
        network=network, market_id=market_id, open_time_ms__gte=start_ms, open_time_ms__lt=end_ms
    ).order_by("open_time_ms")
    return list(rows.values_list("volume", flat=True))


def _text(value: object) -> str:
    """A loaded price's exact decimal text: a double's shortest repr is the stored decimal
    exactly for prices of at most 15 significant digits (the import refuses more precise ones);
    '100.0' -> '100'."""
    text = repr(value) if isinstance(value, float) else str(value)
    return text.removesuffix(".0")


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
