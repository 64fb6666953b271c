"""Parsing OHLCV CSV files of 1-minute candles (pure: no Django).

The file has a header row naming at least `timestamp`, `open`, `high`, `low`, `close` (`volume`
optional; `time`, `open_time` and `date` are accepted for the timestamp; case and spaces do not
matter). Timestamps are epoch seconds or milliseconds (a value below 10**11 is seconds) and must
fall on a minute. Prices are positive decimals of at most 15 significant digits and 10 decimal
places, with `low <= open, close <= high`.

Rows may come in any order; rows with the same minute are deduplicated (identical ones silently,
differing ones: the last wins and is counted). A bad row raises `CsvError` naming the file's line
number and the field.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

MINUTE_MS = 60_000
# The store loads prices through doubles, exact up to 15 significant digits (bots.backtest.store).
MAX_DIGITS = 15
MAX_PLACES = 10  # the columns' decimal places
SECONDS_BELOW = 10**11
_TIME_NAMES = ("timestamp", "time", "open_time", "date")
_PRICES = ("open", "high", "low", "close")


class CsvError(ValueError):
    """A bad file: `row` is the 1-based line number (the header is line 1), `field` the column."""

    def __init__(self, row: int, field: str, message: str) -> None:
        self.row = row
        self.field = field
        super().__init__(f"row {row}, field '{field}': {message}")


@dataclass(frozen=True)
class CsvCandle:
    """One parsed row."""

    open_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True)
class ParsedFile:
    """The file's candles in time order, one per minute, and what was merged."""

    candles: list[CsvCandle]
    rows: int
    duplicates: int
    conflicting_duplicates: int

    def gaps(self) -> list[tuple[int, int]]:
        """Missing minutes between the file's first and last candle: (first missing, last)."""
        return gaps_of(c.open_time_ms for c in self.candles)


def gaps_of(times: Iterable[int]) -> list[tuple[int, int]]:
    """Runs of missing minutes in sorted minute times, as (first missing, last missing) in ms."""
    found: list[tuple[int, int]] = []
    previous: int | None = None
    for t in times:
        if previous is not None and t - previous > MINUTE_MS:
            found.append((previous + MINUTE_MS, t - MINUTE_MS))
        previous = t
    return found


def _header(row: list[str]) -> dict[str, int]:
    names = [name.strip().lower().replace(" ", "_") for name in row]
    columns: dict[str, int] = {}
    for wanted in ("timestamp", *_PRICES, "volume"):
        aliases = _TIME_NAMES if wanted == "timestamp" else (wanted,)
        for alias in aliases:
            if alias in names:
                columns[wanted] = names.index(alias)
                break
        else:
            if wanted != "volume":
                raise CsvError(1, wanted, f"missing column (header: {', '.join(row)[:200]})")
    return columns


def _decimal(row: int, field: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise CsvError(row, field, f"not a number: {text[:40]!r}") from None
    if not value.is_finite():
        raise CsvError(row, field, f"not a finite number: {text[:40]!r}")
    return value


def _time_ms(row: int, text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise CsvError(row, "timestamp", f"not an integer: {text[:40]!r}") from None
    if value <= 0:
        raise CsvError(row, "timestamp", "must be positive (epoch seconds or milliseconds)")
    ms = value * 1000 if value < SECONDS_BELOW else value
    if ms % MINUTE_MS:
        raise CsvError(row, "timestamp", f"{value} is not on a whole minute")
    return ms


def _candles(lines: Iterable[str]) -> Iterator[tuple[int, CsvCandle]]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise CsvError(1, "timestamp", "the file is empty (a header row is required)")
    columns = _header(header)
    width = max(columns.values()) + 1
    for number, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) < width:
            missing = next(name for name, i in columns.items() if i >= len(row))
            raise CsvError(number, missing, f"missing value ({len(row)} columns)")
        t = _time_ms(number, row[columns["timestamp"]])
        o, h, low, c = (_decimal(number, name, row[columns[name]]) for name in _PRICES)
        volume = Decimal(0)
        if "volume" in columns:
            volume = _decimal(number, "volume", row[columns["volume"]])
            if volume < 0:
                raise CsvError(number, "volume", "must not be negative")
        for name, value in zip(_PRICES, (o, h, low, c), strict=True):
            if value <= 0:
                raise CsvError(number, name, f"must be greater than zero, not {value}")
            shape = value.normalize().as_tuple()
            if len(shape.digits) > MAX_DIGITS:
                raise CsvError(number, name, f"more than {MAX_DIGITS} significant digits")
            if isinstance(shape.exponent, int) and shape.exponent < -MAX_PLACES:
                raise CsvError(number, name, f"more than {MAX_PLACES} decimal places")
        if h < max(o, c, low):
            raise CsvError(number, "high", f"{h} is below open, close or low")
        if low > min(o, c):
            raise CsvError(number, "low", f"{low} is above open or close")
        yield number, CsvCandle(t, o, h, low, c, volume)


def parse(lines: Iterable[str]) -> ParsedFile:
    """Parse a whole file (an iterable of text lines); raises `CsvError` on the first bad row."""
    by_minute: dict[int, CsvCandle] = {}
    rows = duplicates = conflicting = 0
    for _, candle in _candles(lines):
        rows += 1
        before = by_minute.get(candle.open_time_ms)
        if before is not None:
            duplicates += 1
            conflicting += before != candle
        by_minute[candle.open_time_ms] = candle
    if rows == 0:
        raise CsvError(2, "timestamp", "the file has a header but no candles")
    ordered = [by_minute[t] for t in sorted(by_minute)]
    return ParsedFile(ordered, rows, duplicates, conflicting)


HOUR_MS = 3_600_000
RATE_PLACES = 12  # FundingRate.rate's decimal places


@dataclass(frozen=True)
class ParsedFunding:
    """Hourly funding rates of a file, keyed by the hour's start in ms, and what was merged."""

    rates: dict[int, Decimal]
    rows: int
    duplicates: int


def parse_funding(lines: Iterable[str]) -> ParsedFunding:
    """Parse a funding file: header `timestamp, rate` (the rate of that hour, e.g. 0.0001 for
    0.01 %; positive: longs pay); timestamps in s or ms on whole hours. Raises `CsvError`."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise CsvError(1, "timestamp", "the file is empty (a header row is required)")
    names = [name.strip().lower().replace(" ", "_") for name in header]
    time_col = next((names.index(n) for n in _TIME_NAMES if n in names), None)
    if time_col is None:
        raise CsvError(1, "timestamp", f"missing column (header: {', '.join(header)[:200]})")
    rate_col = next((names.index(n) for n in ("rate", "funding_rate", "value") if n in names), None)
    if rate_col is None:
        raise CsvError(1, "rate", f"missing column (header: {', '.join(header)[:200]})")
    rates: dict[int, Decimal] = {}
    rows = duplicates = 0
    for number, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) <= max(time_col, rate_col):
            field = "rate" if len(row) > time_col else "timestamp"
            raise CsvError(number, field, f"missing value ({len(row)} columns)")
        t = _time_ms(number, row[time_col])
        if t % HOUR_MS:
            raise CsvError(number, "timestamp", f"{row[time_col].strip()} is not on a whole hour")
        rate = _decimal(number, "rate", row[rate_col])
        exponent = rate.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -RATE_PLACES:
            raise CsvError(number, "rate", f"more than {RATE_PLACES} decimal places")
        if abs(rate) >= 1:
            raise CsvError(number, "rate", f"{rate} is not an hourly rate (|rate| < 1)")
        rows += 1
        duplicates += t in rates
        rates[t] = rate
    if rows == 0:
        raise CsvError(2, "timestamp", "the file has a header but no rates")
    return ParsedFunding(dict(sorted(rates.items())), rows, duplicates)
