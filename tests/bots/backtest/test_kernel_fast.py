"""Proof that the kernel's shortcuts (skipped decisions, runs of quiet candles accounted in
bulk) make exactly the reference walk's backtest: a property over random candle paths.

The reference is `Settings(eager=True)`: every point of every candle walked and decided by the
live `GridStrategy`. The default path must give the same fills (time, side, price, size, fee,
maker, level), the same PnL split, the same equity curve, drawdown and time at the cap: the
whole `Result`, compared exactly.
"""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bots.backtest.kernel import MINUTE_MS, CandleSeries, Settings, _quiet_end, run
from bots.backtest.synthetic import gbm_candles
from bots.strategies.grid import GridConfig, SizeMode, Spacing

HOUR = 3_600_000


@st.composite
def cases(draw: st.DrawFn) -> tuple[Settings, CandleSeries, dict[int, D]]:
    seed = draw(st.integers(0, 10**6))
    n = draw(st.integers(50, 900))
    volatility = draw(st.sampled_from([0.2, 0.8, 2.0]))
    start_ms = 1_735_689_600_000 - draw(st.integers(0, 59)) * MINUTE_MS
    series = gbm_candles(n, seed=seed, volatility=volatility, start_price=100.0, start_ms=start_ms)
    rng = random.Random(seed)
    keep = [i for i in range(n) if i == 0 or rng.random() > draw(st.sampled_from([0, 0.02, 0.2]))]
    volumes = [D(rng.randint(0, 400)) / 100 for _ in keep]
    series = CandleSeries(
        *([column[i] for i in keep] for column in (
            series.times, series.opens, series.highs, series.lows, series.closes)),
        volumes,
    )  # fmt: skip
    first = series.opens[0]
    geometric = draw(st.booleans())
    quote = draw(st.booleans())
    config = GridConfig(
        spacing=Spacing.GEOMETRIC if geometric else Spacing.ARITHMETIC,
        step=D(draw(st.sampled_from(["0.0005", "0.001", "0.003"])))
        if geometric
        else D(draw(st.sampled_from(["0.05", "0.1", "0.37"]))),
        levels_per_side=draw(st.integers(1, 6)),
        size_mode=SizeMode.QUOTE if quote else SizeMode.BASE,
        size=D(draw(st.sampled_from(["5", "20", "60"]))) if quote else D("0.1"),
        tick_size=D("0.01"),
        lot_size=D("0.001"),
        min_quote_amount=D(draw(st.sampled_from(["0", "5"]))),
        post_only=draw(st.booleans()),
        max_open_orders=draw(st.none() | st.integers(1, 8)),
        max_position_notional=draw(st.none() | st.sampled_from([D(15), D(40), D(100)])),
        stop_loss_price=draw(st.none() | st.sampled_from([first * D("0.97"), first - D("0.5")])),
        take_profit_price=draw(st.none() | st.sampled_from([first * D("1.03"), first + D("0.5")])),
        flatten_on_stop=draw(st.booleans()),
    )  # fmt: skip
    options = Settings(
        config=config,
        maker_fee_ppm=draw(st.sampled_from([0, 40])),
        taker_fee_ppm=draw(st.sampled_from([0, 280])),
        equity_points=draw(st.sampled_from([7, 500, 5000])),
        collateral=draw(st.none() | st.sampled_from([D(3), D(50), D(1000)])),
        leverage=D(draw(st.sampled_from([1, 5, 20]))),
        volume_share=draw(st.none() | st.sampled_from([D("0.05"), D("0.5")])),
    )
    rate = draw(st.sampled_from(["0", "0.0001", "-0.0003"]))
    funding = {t: D(rate) * rng.randint(-2, 3) for t in series.times if t % HOUR == 0}
    return options, series, funding


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_fast_path_makes_exactly_the_reference_walks_backtest(
    case: tuple[Settings, CandleSeries, dict[int, D]],
) -> None:
    options, series, funding = case
    fast = run(options, series, funding)
    reference = run(replace(options, eager=True), series, funding)
    assert fast.fills == reference.fills
    assert fast.summary() == reference.summary()
    assert fast.equity == reference.equity
    assert fast == replace(reference, refused=fast.refused)


def test_drawdown_inside_a_run_of_quiet_candles() -> None:
    # Step 10, 2 levels a side of 1 base around 100. Candle 0 dips to 95, candle 1 to 89: the
    # buy at 90 fills (long 1), the centre moves to 90 (orders at 80, 100, 110), the close 91 is
    # inside the band. Then quiet candles (nothing reaches 80 or 100): up to 98 (+8, a new
    # peak), down to 82 (-8): the drawdown is 16, made inside the run (the peak before: 1).
    rows = [(0, "100", "100", "95", "95"), (MINUTE_MS, "95", "95", "89", "91")]
    closes = ["95", "98", "90", "82", "85"]
    previous = "91"
    for i, close in enumerate(closes, start=2):
        low, high = min(previous, close, key=D), max(previous, close, key=D)
        rows.append((i * MINUTE_MS, previous, high, low, close))
        previous = close
    series = CandleSeries(*(list(column) for column in zip(*(
        (t, D(o), D(h), D(low), D(c)) for t, o, h, low, c in rows), strict=True)))  # fmt: skip
    config = GridConfig(
        spacing=Spacing.ARITHMETIC,
        step=D(10),
        levels_per_side=2,
        size_mode=SizeMode.BASE,
        size=D(1),
        tick_size=D("0.01"),
        lot_size=D("0.001"),
        max_position_notional=D(190),
    )
    fast = run(Settings(config=config), series)
    reference = run(Settings(config=config, eager=True), series)
    assert [(f.side, f.price) for f in fast.fills] == [("buy", D("90.00"))]
    assert fast.max_drawdown == reference.max_drawdown == 16
    # At the cap (long 1: 1 x close + one more level x close > 190) only at the close 98.
    assert fast.capped_candles == reference.capped_candles == 1
    assert fast == reference


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 300),
    st.integers(0, 300),
    st.sets(st.integers(0, 299), max_size=4),
    st.integers(0, 10**6),
    st.booleans(),
)
def test_quiet_search_finds_the_first_candle_outside_the_bounds(
    n: int, start: int, loud: set[int], seed: int, stopped: bool
) -> None:
    # The first candle from `start` whose low or high is not strictly inside (10, 20): loud
    # candles touch or pass a bound, quiet runs between them take every length up to 300.
    rng = random.Random(seed)
    lows: list[D] = []
    highs: list[D] = []
    for m in range(n):
        low = D(rng.randint(11, 19))
        high = low + rng.randint(0, 19 - int(low))
        if m in loud:
            low, high = (D(rng.choice([5, 10])), high) if rng.random() < 0.5 else (low, D(20))
        lows.append(low)
        highs.append(high)
    start = min(start, n)
    bounds = (None, None) if stopped else (D(10), D(20))
    expected = n if stopped else min((m for m in loud if start <= m < n), default=n)
    assert _quiet_end(lows, highs, start, n, *bounds) == expected
