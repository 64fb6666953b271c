"""Reference-price paths: seeded GBM, CSV replay at any speed, flat."""

from decimal import Decimal

import pytest

from exchange.simulator.config import PricePathConfig
from exchange.simulator.prices import NEVER, CsvPath, GbmPath, PricePath, make_path

START = 1_000_000


def walk(path: PricePath, steps: int) -> list[tuple[int, Decimal]]:
    out = []
    for _ in range(steps):
        at = path.next_at
        out.append((at, path.step()))
    return out


def test_gbm_with_the_same_seed_repeats_exactly():
    config = PricePathConfig(volatility=Decimal("0.8"), step_ms=250)
    first = walk(GbmPath(Decimal(3000), config, start_ms=START, seed=5), 200)
    second = walk(GbmPath(Decimal(3000), config, start_ms=START, seed=5), 200)
    assert first == second


def test_gbm_with_another_seed_differs():
    config = PricePathConfig()
    first = walk(GbmPath(Decimal(3000), config, start_ms=START, seed=1), 20)
    second = walk(GbmPath(Decimal(3000), config, start_ms=START, seed=2), 20)
    assert first != second


def test_gbm_steps_on_its_interval_and_stays_positive():
    path = GbmPath(Decimal(100), PricePathConfig(volatility=Decimal(5)), start_ms=START, seed=3)
    steps = walk(path, 500)
    assert [at for at, _ in steps[:3]] == [START + 1000, START + 2000, START + 3000]
    assert all(price > 0 for _, price in steps)


def test_gbm_moves_are_small_over_one_second_at_normal_volatility():
    path = GbmPath(Decimal(3000), PricePathConfig(volatility=Decimal("0.6")), start_ms=0, seed=9)
    prices = [p for _, p in walk(path, 100)]
    # 60 % a year is ~0.01 % per second: 100 steps stay well within 1 %.
    assert max(abs(p / Decimal(3000) - 1) for p in prices) < Decimal("0.01")


def test_reset_jumps_and_continues_from_the_new_price():
    path = GbmPath(Decimal(3000), PricePathConfig(volatility=Decimal(0)), start_ms=0, seed=1)
    path.reset(Decimal(2500))
    assert path.step() == Decimal(2500)


def test_csv_replay_uses_the_column_and_speed(tmp_path):
    csv_file = tmp_path / "eth.csv"
    csv_file.write_text("close,other\n3000.5,x\n3001.25,y\n2999,z\n", encoding="utf-8")
    config = PricePathConfig(
        kind="csv", csv_path=str(csv_file), csv_column="close", step_ms=60_000,
        replay_speed=Decimal(60),
    )  # fmt: skip

    path = make_path(Decimal(1), config, start_ms=START, seed=0)

    assert isinstance(path, CsvPath)
    assert path.price == Decimal("3000.5")
    assert walk(path, 2) == [(START + 1000, Decimal("3001.25")), (START + 2000, Decimal(2999))]
    assert path.next_at == NEVER


def test_csv_replay_honours_a_timestamp_column(tmp_path):
    csv_file = tmp_path / "eth.csv"
    csv_file.write_text("timestamp,price\n0,10\n500,11\n2000,12\n", encoding="utf-8")
    config = PricePathConfig(kind="csv", csv_path=str(csv_file), replay_speed=Decimal(2))

    path = make_path(Decimal(1), config, start_ms=START, seed=0)

    assert [at for at, _ in walk(path, 2)] == [START + 250, START + 1000]


def test_flat_path_never_steps():
    path = make_path(Decimal(7), None, start_ms=START, seed=0)
    assert path.next_at == NEVER
    assert path.step() == Decimal(7)


def test_unknown_path_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown price path"):
        make_path(Decimal(1), PricePathConfig(kind="sine"), start_ms=0, seed=0)
