"""The packed days (`CandleDay`) that `store.load_candles` reads: on random data with gaps,
duplicates and overlapping writes, through every write path (CSV import, the admin's chunked
import, the recorder), the load gives exactly the row-by-row load of the candle rows (the same
Decimals, digits and exponent), for any range; packs missing for rows stored around the store
are rebuilt by `rebuild_all` (what migration 0016 runs)."""

from __future__ import annotations

import random
from decimal import Decimal as D
from itertools import groupby

import pytest

from bots.backtest import csvfile, recorder, store
from bots.backtest.kernel import CandleSeries
from bots.models import Candle
from bots.models.backtest import CandleDay

DAY = 86_400_000
MINUTE = 60_000
T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC


def price(rng: random.Random) -> D:
    """A positive price of at most 15 significant digits and 10 decimal places."""
    places = rng.choice([0, 1, 2, 2, 2, 4, 6, 10])
    value = D(rng.randint(1, 10 ** rng.randint(1, 15) - 1)).scaleb(-places)
    if rng.random() < 0.2:  # a round price: '100.00' stored, '100' loaded
        value = D(f"{rng.randint(1, 5000)}.00")
    return value


def candles(rng: random.Random, minutes: list[int], pool: list[D]) -> list[csvfile.CsvCandle]:
    """Candles at the given minutes from T0, prices drawn from a small pool (repeats, as real
    data has) or fresh."""

    def pick() -> D:
        return rng.choice(pool) if rng.random() < 0.7 else price(rng)

    return [
        csvfile.CsvCandle(T0 + m * MINUTE, pick(), pick(), pick(), pick(), D(rng.randint(0, 9)))
        for m in sorted(set(minutes))
    ]


def parsed(rows: list[csvfile.CsvCandle]) -> csvfile.ParsedFile:
    return csvfile.ParsedFile(rows, len(rows), 0, 0)


def exact(series: CandleSeries) -> list[tuple[object, ...]]:
    """Every value with its Decimal's digits and exponent."""
    columns = (series.opens, series.highs, series.lows, series.closes, series.volumes or [])
    return [tuple(series.times)] + [tuple(v.as_tuple() for v in column) for column in columns]


def same_as_rows(network: str, market_id: int, start: int, end: int) -> None:
    packed = store.load_candles(network, market_id, start, end, volumes=True)
    rows = store.load_candles_by_row(network, market_id, start, end, volumes=True)
    assert exact(packed) == exact(rows)
    assert packed == rows
    assert all(isinstance(t, int) for t in packed.times)


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_packed_load_is_the_row_by_row_load_on_random_data(seed: int) -> None:
    rng = random.Random(seed)
    pool = [price(rng) for _ in range(40)]
    span = 4 * 1440  # four days and a bit, with gaps
    for network, market_id in (("paper", 1), ("paper", 2), ("mainnet", 1)):
        # A first file with gaps (whole missing hours and single minutes).
        first = [m for m in range(span) if rng.random() < 0.8 and not 2000 <= m < 2100]
        store.import_parsed(network, market_id, parsed(candles(rng, first, pool)))
        # Overlapping files: the stored minutes are kept, new ones added.
        for _ in range(3):
            a = rng.randrange(-100, span)
            more = [m for m in range(a, a + rng.randint(1, 900)) if rng.random() < 0.6]
            if more:
                store.import_parsed(network, market_id, parsed(candles(rng, more, pool)))
        # Recorded minutes, some already stored, some a day after the rest.
        recorded = [
            Candle(network=network, market_id=market_id, open_time_ms=c.open_time_ms,
                   open=c.open, high=c.high, low=c.low, close=c.close, volume=c.volume)
            for c in candles(rng, [rng.randrange(span + 1500) for _ in range(50)], pool)
        ]  # fmt: skip
        store.store_candles(network, market_id, recorded)
        # A CSV file with duplicate rows (the last one kept), parsed as the import does.
        text = "timestamp,open,high,low,close,volume\n" + "".join(
            f"{(T0 + m * MINUTE) // 1000},{p},{p},{p},{p},1\n"
            for m, p in ((rng.randrange(span), rng.choice(pool)) for _ in range(30))
            for _ in range(2)
        )
        store.import_parsed(network, market_id, csvfile.parse(text.splitlines(keepends=True)))
    assert Candle.objects.count() > 3 * 3000
    for network, market_id in (("paper", 1), ("paper", 2), ("mainnet", 1), ("testnet", 1)):
        same_as_rows(network, market_id, 0, 2**62)
        for _ in range(15):
            start = T0 + rng.randrange(-2 * DAY, span * MINUTE + DAY)
            same_as_rows(network, market_id, start, start + rng.randrange(0, 3 * DAY))
        same_as_rows(network, market_id, T0 + DAY, T0 + 2 * DAY)  # a whole day exactly
        same_as_rows(network, market_id, T0 + DAY, T0 + DAY)  # empty range
    assert (
        len(store.load_candles("paper", 1, 0, 2**62))
        == Candle.objects.filter(network="paper", market_id=1).count()
    )


@pytest.mark.django_db
def test_loaded_prices_are_shared_and_exact() -> None:
    rows = [
        csvfile.CsvCandle(T0 + i * MINUTE, p, p, p, D("3000.10"), D(0))
        for i, p in enumerate([D("12345678.1234567"), D("0.0000000001"), D("3000.10"), D(7)])
    ]
    store.import_parsed("paper", 3, parsed(rows))
    series = store.load_candles("paper", 3, 0, 2**62)
    assert [str(p) for p in series.opens] == ["12345678.1234567", "1E-10", "3000.1", "7"]
    assert series == store.load_candles_by_row("paper", 3, 0, 2**62)
    # One Decimal per distinct price, whichever column or day it is in.
    assert series.opens[2] is series.closes[0] is series.closes[3]


@pytest.mark.django_db
def test_one_pack_per_day_and_rows_stored_around_the_store_are_rebuilt() -> None:
    rows = candles(random.Random(7), [0, 1, 1439, 1440, 3 * 1440 + 5], [D(1)])
    store.import_parsed("paper", 0, parsed(rows))
    packs = CandleDay.objects.filter(network="paper", market_id=0).order_by("day")
    day0 = T0 // DAY
    assert [(p.day, p.rows) for p in packs] == [(day0, 3), (day0 + 1, 1), (day0 + 3, 1)]
    # Rows written or deleted directly (not through the store) are not in the packs until
    # rebuilt (as migration 0016 does for the rows stored before it): the load sees the counts
    # differ and reads the rows meanwhile.
    Candle.objects.create(network="paper", market_id=0, open_time_ms=T0 + 2 * DAY,
                          open=D(2), high=D(2), low=D(2), close=D(2))  # fmt: skip
    same_as_rows("paper", 0, 0, 2**62)
    Candle.objects.filter(open_time_ms=T0).delete()
    same_as_rows("paper", 0, 0, 2**62)
    same_as_rows("paper", 0, T0 + DAY, T0 + 4 * DAY)
    assert len(store.load_candles("paper", 0, 0, 2**62)) == 5
    assert store.rebuild_all(model=CandleDay, days=2) == 4
    assert sum(CandleDay.objects.values_list("rows", flat=True)) == 5
    same_as_rows("paper", 0, 0, 2**62)
    assert len(store.load_candles("paper", 0, 0, 2**62)) == 5


@pytest.fixture
def _no_cursors(redis_client) -> None:  # type: ignore[no-untyped-def]
    for key in redis_client.scan_iter("lighterweb:recorder:*"):
        redis_client.delete(key)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_no_cursors")
def test_recorded_candles_are_packed(simulator, funded_account, redis_url, settings) -> None:  # type: ignore[no-untyped-def]
    from tests.bots.backtest.test_recorder import trade
    from tests.bots.runner_support import account_on

    settings.REDIS_URL = redis_url
    account = account_on(simulator, funded_account)
    trade(simulator, funded_account, redis_url, 2, 100)
    simulator.advance(3 * 60_000)
    trade(simulator, funded_account, redis_url, 1, 200)
    simulator.advance(60_000)
    now = int(simulator.call(lambda: simulator.server.now_ms()))
    recorder.record_network(account, now, backfill_days=1)
    stored = Candle.objects.filter(network="paper", market_id=0).count()
    assert stored == 2
    assert len(store.load_candles("paper", 0, 0, 2**62)) == stored
    same_as_rows("paper", 0, 0, 2**62)


@pytest.mark.django_db(transaction=True)
def test_migration_0016_packs_the_rows_already_stored() -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("bots", "0015_transfer_any_bot")])
    try:
        Candle.objects.bulk_create(
            Candle(network="paper", market_id=5, open_time_ms=T0 + m * MINUTE, open=D("100.50"),
                   high=D(101), low=D("99.9"), close=D(m), volume=D(1))
            for m in (0, 1, 2, 1440 * 40, 1440 * 40 + 7)
        )  # fmt: skip
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert CandleDay.objects.filter(network="paper", market_id=5).count() == 2
    same_as_rows("paper", 5, 0, 2**62)
    assert [str(c) for c in store.load_candles("paper", 5, 0, 2**62).closes] == [
        "0", "1", "2", "57600", "57607"
    ]  # fmt: skip


def packed_in_step(network: str, market_id: int) -> bool:
    """Whether each day's pack holds as many candles as the day's rows."""
    times = Candle.objects.filter(network=network, market_id=market_id).values_list(
        "open_time_ms", flat=True
    )
    rows = {day: len(list(g)) for day, g in groupby(sorted(times), key=lambda t: t // DAY)}
    packs = CandleDay.objects.filter(network=network, market_id=market_id)
    return dict(packs.values_list("day", "rows")) == rows


@pytest.mark.django_db
def test_the_admins_delete_rebuilds_the_days_packs(admin_client) -> None:  # type: ignore[no-untyped-def]
    from django.urls import reverse

    rows = candles(random.Random(3), [0, 1, 2, 1440, 1441], [D(1)])
    store.import_parsed("paper", 0, parsed(rows))
    one = Candle.objects.get(open_time_ms=T0 + MINUTE)
    page = admin_client.post(reverse("admin:bots_candle_delete", args=[one.pk]), {"post": "yes"})
    assert page.status_code == 302
    assert not Candle.objects.filter(pk=one.pk).exists()
    assert packed_in_step("paper", 0)
    same_as_rows("paper", 0, 0, 2**62)
    assert [(p.day, p.rows) for p in CandleDay.objects.order_by("day")] == [
        (T0 // DAY, 2), (T0 // DAY + 1, 2)
    ]  # fmt: skip
    # A day's last candles go: so does its pack.
    assert store.delete_candles(Candle.objects.filter(open_time_ms__gte=T0 + DAY)) == 2
    assert Candle.objects.count() == 2
    assert [(p.day, p.rows) for p in CandleDay.objects.all()] == [(T0 // DAY, 2)]
    same_as_rows("paper", 0, 0, 2**62)


@pytest.mark.django_db
def test_candles_repack_mends_packs_after_writes_around_the_store(capsys) -> None:  # type: ignore[no-untyped-def]
    from django.core.management import call_command

    store.import_parsed("paper", 1, parsed(candles(random.Random(4), [0, 5, 1440], [D(7)])))
    Candle.objects.filter(open_time_ms=T0 + 5 * MINUTE).delete()  # a shell's delete
    Candle.objects.create(network="paper", market_id=1, open_time_ms=T0 + 3 * DAY,
                          open=D(2), high=D(2), low=D(2), close=D(2))  # fmt: skip
    assert not packed_in_step("paper", 1)
    call_command("candles_repack")
    assert "3 day packs rebuilt" in capsys.readouterr().out
    assert packed_in_step("paper", 1)
    same_as_rows("paper", 1, 0, 2**62)
