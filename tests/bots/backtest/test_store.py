"""The candle store: CSV files good and bad (errors name the row and field), the import command
(dedupe, gaps, overlap with stored rows), exact loading, coverage."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from bots.backtest import csvfile, store
from bots.models import Candle, FundingRate
from tests.lighterweb.factories import make_market

T0 = 1_735_689_600  # 2025-01-01 00:00 UTC, seconds
HEADER = "timestamp,open,high,low,close,volume\n"


def row(minute: int, o: str = "100.5", h: str = "101.25", low: str = "99.75", c: str = "100",
        v: str = "3", ms: bool = False) -> str:  # fmt: skip
    t = (T0 + 60 * minute) * (1000 if ms else 1)
    return f"{t},{o},{h},{low},{c},{v}\n"


def write(tmp_path: Path, text: str, name: str = "c.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_parse_seconds_and_milliseconds_dedupe_and_gaps() -> None:
    text = HEADER + row(0) + row(1, ms=True) + row(1, ms=True) + row(4, c="101") + row(2)
    parsed = csvfile.parse(text.splitlines(keepends=True))
    assert [c.open_time_ms for c in parsed.candles] == [(T0 + 60 * m) * 1000 for m in (0, 1, 2, 4)]
    assert parsed.rows == 5 and parsed.duplicates == 1 and parsed.conflicting_duplicates == 0
    assert parsed.candles[0].high == D("101.25")
    assert parsed.gaps() == [((T0 + 180) * 1000, (T0 + 180) * 1000)]


def test_header_names_in_any_order_and_case() -> None:
    text = "Close,Time,Low,High,Open\n100,1735689600,99,102,101\n"
    (candle,) = csvfile.parse(text.splitlines()).candles
    assert (candle.open, candle.high, candle.low, candle.close) == (D(101), D(102), D(99), D(100))
    assert candle.volume == 0


@pytest.mark.parametrize(
    ("text", "row_number", "field", "says"),
    [
        ("", 1, "timestamp", "empty"),
        ("time,open,high,low\n", 1, "close", "missing column"),
        (HEADER, 2, "timestamp", "no candles"),
        (HEADER + row(0) + "abc,1,2,0.5,1,1\n", 3, "timestamp", "not an integer"),
        (HEADER + row(0) + row(1, h="x"), 3, "high", "not a number"),
        (HEADER + row(0, low="100.25"), 2, "low", "above open"),
        (HEADER + row(0, h="100"), 2, "high", "below open"),
        (HEADER + row(0, o="-1", low="-2"), 2, "open", "greater than zero"),
        (HEADER + row(0, v="-1"), 2, "volume", "negative"),
        (HEADER + f"{T0 + 30},1,1,1,1,1\n", 2, "timestamp", "whole minute"),
        (HEADER + f"{T0},1,1\n", 2, "low", "missing value"),
        (HEADER + row(0, c="NaN"), 2, "close", "finite"),
        (HEADER + row(0, c="100.0000000000001"), 2, "close", "significant digits"),
        (HEADER + row(0, low="0.00000000001"), 2, "low", "decimal places"),
    ],
)
def test_bad_files_name_row_and_field(text: str, row_number: int, field: str, says: str) -> None:
    with pytest.raises(csvfile.CsvError) as caught:
        csvfile.parse(text.splitlines(keepends=True))
    assert (caught.value.row, caught.value.field) == (row_number, field)
    assert says in str(caught.value)
    assert str(caught.value).startswith(f"row {row_number}, field '{field}'")


@pytest.mark.django_db
def test_import_command_overlap_and_exact_load(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    make_market(network="mainnet", market_id=0, symbol="ETH")
    first = write(tmp_path, HEADER + "".join(row(m, c=f"100.{m:02d}") for m in range(3)))
    call_command("candles_import", str(first), "--network", "mainnet", "--market", "ETH")
    out = capsys.readouterr().out
    assert "3 rows read, 3 candles stored, 0 already stored" in out
    assert "no gaps in the file" in out
    # Overlaps minutes 1-2, adds 3 and 5 (a gap at 4); the stored rows are kept.
    second = write(tmp_path, HEADER + "".join(row(m, c="100.99") for m in (1, 2, 3, 5)), "b.csv")
    call_command("candles_import", str(second), "--network", "mainnet", "--market", "0")
    out = capsys.readouterr().out
    assert "4 rows read, 2 candles stored, 2 already stored" in out
    assert "1 gaps in the file (1 minutes missing)" in out
    assert "gap 2025-01-01 00:04 .. 2025-01-01 00:04" in out
    assert Candle.objects.count() == 5
    series = store.load_candles("mainnet", 0, T0 * 1000, (T0 + 3600) * 1000)
    assert list(series.closes) == [D("100.00"), D("100.01"), D("100.02"), D("100.99"), D("100.99")]
    # The same exact strings on SQLite (numbers) and PostgreSQL (numeric with 10 places).
    assert [str(c) for c in series.closes] == ["100", "100.01", "100.02", "100.99", "100.99"]
    assert list(series.highs) == [D("101.25")] * 5
    assert series.times[-1] == (T0 + 300) * 1000
    assert len(store.load_candles("mainnet", 0, (T0 + 60) * 1000, (T0 + 180) * 1000)) == 2
    assert len(store.load_candles("testnet", 0, 0, 2**62)) == 0
    (cov,) = store.coverage()
    assert (cov.network, cov.market_id, cov.rows) == ("mainnet", 0, 5)
    assert cov.ranges == [(T0 * 1000, (T0 + 180) * 1000), ((T0 + 300) * 1000, (T0 + 300) * 1000)]
    assert cov.gaps == [((T0 + 240) * 1000, (T0 + 240) * 1000)]
    assert cov.missing_minutes == 1 and cov.last_ms == (T0 + 300) * 1000


@pytest.mark.django_db
def test_import_command_bad_file_stores_nothing(tmp_path: Path) -> None:
    bad = write(tmp_path, HEADER + row(0) + row(1) + row(2, low="100.25"))
    with pytest.raises(CommandError, match=r"row 4, field 'low'"):
        call_command("candles_import", str(bad), "--network", "paper", "--market", "0")
    with pytest.raises(CommandError, match="market: no market 'DOGE' on paper"):
        call_command("candles_import", str(bad), "--network", "paper", "--market", "DOGE")
    with pytest.raises(CommandError, match="file: cannot read"):
        call_command("candles_import", str(tmp_path / "nope.csv"), "--market", "0")
    assert Candle.objects.count() == 0


@pytest.mark.django_db
def test_funding_loads_by_hour() -> None:
    FundingRate.objects.create(network="paper", market_id=0, time_ms=3_600_000, rate=D("0.0001"))
    FundingRate.objects.create(network="paper", market_id=1, time_ms=3_600_000, rate=D("0.5"))
    assert store.load_funding("paper", 0, 0, 7_200_000) == {3_600_000: D("0.0001")}


def test_raw_sql_names_the_models_table() -> None:
    assert Candle._meta.db_table == store.TABLE


@pytest.mark.django_db
def test_fifteen_significant_digits_load_exactly() -> None:
    prices = [D("12345678.1234567"), D("12345.1234567891"), D("99999.9999999999"), D("3000")]
    rows = [
        csvfile.CsvCandle(T0 * 1000 + i * 60_000, p, p, p, p, D(0)) for i, p in enumerate(prices)
    ]
    store.import_parsed("paper", 3, csvfile.ParsedFile(rows, len(rows), 0, 0))
    series = store.load_candles("paper", 3, 0, 2**62)
    assert list(series.closes) == prices
    assert [str(p) for p in series.opens] == ["12345678.1234567", "12345.1234567891",
                                              "99999.9999999999", "3000"]  # fmt: skip


@pytest.mark.django_db
def test_funding_import_merges_and_keeps_stored_rates(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    good = write(tmp_path, f"timestamp,rate\n{T0}000,0.0001\n{T0 + 3600},-0.00005\n{T0},0.0001\n")
    call_command("funding_import", str(good), "--network", "paper", "--market", "0")
    assert "3 rows read, 2 hourly rates stored, 0 already stored, 1 duplicate" in (
        capsys.readouterr().out
    )
    call_command("funding_import", str(good), "--network", "paper", "--market", "0")
    assert "0 hourly rates stored, 2 already stored" in capsys.readouterr().out
    assert store.load_funding("paper", 0, 0, 2**62) == {
        T0 * 1000: D("0.0001"),
        (T0 + 3600) * 1000: D("-0.00005"),
    }


@pytest.mark.parametrize(
    ("text", "row_number", "field", "says"),
    [
        ("time,value\n", 2, "timestamp", "no rates"),
        ("timestamp,open\n1,2\n", 1, "rate", "missing column"),
        (f"timestamp,rate\n{T0 + 60},0.1\n", 2, "timestamp", "whole hour"),
        (f"timestamp,rate\n{T0},abc\n", 2, "rate", "not a number"),
        (f"timestamp,rate\n{T0},2\n", 2, "rate", "not an hourly rate"),
        (f"timestamp,rate\n{T0},0.0000000000001\n", 2, "rate", "decimal places"),
        (f"timestamp,rate\n{T0},0.1\n{T0 + 3600}\n", 3, "rate", "missing value"),
    ],
)
def test_bad_funding_files_name_row_and_field(
    text: str, row_number: int, field: str, says: str
) -> None:
    with pytest.raises(csvfile.CsvError) as caught:
        csvfile.parse_funding(text.splitlines(keepends=True))
    assert (caught.value.row, caught.value.field) == (row_number, field)
    assert says in str(caught.value)


def test_chart_buckets_merge_candles_into_bars() -> None:
    from bots.backtest.kernel import CandleSeries

    series = CandleSeries(
        [0, 60_000, 120_000],
        [D(1), D(2), D(3)],
        [D(5), D(9), D(4)],
        [D(1), D("0.5"), D(2)],
        [D(2), D(3), D("3.5")],
    )
    assert store.chart_buckets(series, buckets=2) == [[0, "1", "9", "0.5", "3"],
                                                       [120, "3", "4", "2", "3.5"]]  # fmt: skip
    assert len(store.chart_buckets(series)) == 3
