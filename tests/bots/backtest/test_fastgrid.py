"""Proof that the specialised grid kernel (`fastgrid.py`, the default for the configs it
supports) makes exactly the live-core kernel's backtest: a property over random candle paths and
random supported configs (both spacings, base and quote size, minimums, caps, max open orders,
stop-loss / take-profit with and without the flatten, fees, funding), comparing the whole
`Result` (fills: time, side, price, size, fee, maker, level; the PnL split; the equity curve;
round trips; time at the cap; max drawdown), plus determinism and the fallbacks.
"""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bots.backtest import fastgrid
from bots.backtest.engine import run
from bots.backtest.kernel import MINUTE_MS, CandleSeries, Settings
from bots.backtest.synthetic import gbm_candles
from bots.strategies.grid import GridConfig, SizeMode, Spacing

HOUR = 3_600_000


@st.composite
def cases(draw: st.DrawFn) -> tuple[Settings, CandleSeries, dict[int, D]]:
    seed = draw(st.integers(0, 10**6))
    n = draw(st.integers(30, 900))
    volatility = draw(st.sampled_from([0.2, 0.8, 2.0, 6.0]))
    start_ms = 1_735_689_600_000 - draw(st.integers(0, 59)) * MINUTE_MS
    series = gbm_candles(n, seed=seed, volatility=volatility, start_price=100.0, start_ms=start_ms)
    rng = random.Random(seed)
    gaps = draw(st.sampled_from([0, 0.02, 0.2]))
    keep = [i for i in range(n) if i == 0 or rng.random() > gaps]
    series = CandleSeries(*([column[i] for i in keep] for column in (
        series.times, series.opens, series.highs, series.lows, series.closes)))  # fmt: skip
    first = series.opens[0]
    geometric = draw(st.booleans())
    quote = draw(st.booleans())
    # Candle prices are on 0.01: a 0.1 tick puts them between ticks too.
    tick = D(draw(st.sampled_from(["0.01", "0.1"])))
    config = GridConfig(
        spacing=Spacing.GEOMETRIC if geometric else Spacing.ARITHMETIC,
        step=D(draw(st.sampled_from(["0.00005", "0.0005", "0.001", "0.003"])))
        if geometric
        else tick * draw(st.sampled_from([1, 5, 10, 37])),
        levels_per_side=draw(st.integers(1, 7)),
        size_mode=SizeMode.QUOTE if quote else SizeMode.BASE,
        size=D(draw(st.sampled_from(["5", "20", "60"]))) if quote
        else D(draw(st.sampled_from(["0.1", "0.0005"]))),
        tick_size=tick,
        lot_size=D("0.001"),
        min_base_amount=D(draw(st.sampled_from(["0", "0.002"]))),
        min_quote_amount=D(draw(st.sampled_from(["0", "5"]))),
        post_only=draw(st.booleans()),
        max_open_orders=draw(st.none() | st.integers(1, 9)),
        max_position_notional=draw(st.none() | st.sampled_from([D(15), D(40), D("100.5")])),
        stop_loss_price=draw(st.none() | st.sampled_from([first * D("0.97"), first - D("0.5")])),
        take_profit_price=draw(st.none() | st.sampled_from([first * D("1.03"), first + D("0.5")])),
        flatten_on_stop=draw(st.booleans()),
    )  # fmt: skip
    options = Settings(
        config=config,
        maker_fee_ppm=draw(st.sampled_from([0, 40, -20])),
        taker_fee_ppm=draw(st.sampled_from([0, 280])),
        slippage_bps=D(draw(st.sampled_from(["0", "5", "37.5"]))),
        equity_points=draw(st.sampled_from([7, 500, 5000])),
        leverage=D(draw(st.sampled_from([1, 5]))),
    )
    rate = draw(st.sampled_from(["0", "0.0001", "-0.0003"]))
    funding = {t: D(rate) * rng.randint(-2, 3) for t in series.times if t % HOUR == 0}
    return options, series, funding


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_fast_kernel_makes_exactly_the_live_cores_backtest(
    case: tuple[Settings, CandleSeries, dict[int, D]],
) -> None:
    options, series, funding = case
    assert fastgrid.supports(options)
    fast = fastgrid.run(options, series, funding)
    live = run(replace(options, live_core=True), series, funding)
    assert fast.fills == live.fills
    assert fast.summary() == live.summary()
    assert fast.equity == live.equity
    assert fast == live


def _year_start() -> tuple[Settings, CandleSeries]:
    series = gbm_candles(3000, seed=7, volatility=1.5, start_price=100.0)
    config = GridConfig(
        spacing=Spacing.GEOMETRIC,
        step=D("0.001"),
        levels_per_side=5,
        size_mode=SizeMode.QUOTE,
        size=D(20),
        tick_size=D("0.01"),
        lot_size=D("0.001"),
        max_position_notional=D(60),
    )
    return Settings(config=config, maker_fee_ppm=40, taker_fee_ppm=280), series


def test_fast_kernel_is_the_default_and_deterministic() -> None:
    options, series = _year_start()
    first = run(options, series)
    again = run(options, series)
    assert first == again
    assert first.summary() == again.summary()
    assert len(first.fills) > 20  # the case trades: the comparison means something
    assert first == fastgrid.run(options, series)
    assert first == run(replace(options, live_core=True), series)


def test_unsupported_settings_run_the_live_core() -> None:
    options, _ = _year_start()
    assert fastgrid.supports(options)
    assert not fastgrid.supports(replace(options, live_core=False, collateral=D(100)))
    assert not fastgrid.supports(replace(options, volume_share=D("0.5")))
    assert not fastgrid.supports(replace(options, eager=True))
