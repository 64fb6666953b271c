"""Venue mode (the simulator's matching engine) against the fill model on the same candles."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bots.backtest import kernel, venue
from bots.backtest.kernel import Result, Settings
from bots.backtest.synthetic import gbm_candles
from bots.strategies.protocol import OrderEnded
from tests.bots.backtest.test_kernel import HAND, HOUR, PREMIUM, config


def trail(result: Result) -> list[tuple[int, str, D, D, D, bool, int | None]]:
    return [
        (f.time_ms, f.side, f.price, f.size_base, f.fee, f.is_maker, f.level) for f in result.fills
    ]


def both(settings: Settings, candles: kernel.CandleSeries, funding: dict[int, D] | None = None
         ) -> tuple[Result, Result]:  # fmt: skip
    return kernel.run(settings, candles, funding), venue.run(settings, candles, funding)


def assert_same(a: Result, b: Result) -> None:
    assert trail(a) == trail(b)
    for name in ("grid_profit", "other_realized", "inventory", "fees", "funding", "total"):
        assert getattr(a, name).quantize(D("0.01")) == getattr(b, name).quantize(D("0.01")), name
    assert (a.round_trips, a.position_base, a.halted, a.refused) == (
        b.round_trips, b.position_base, b.halted, b.refused
    )  # fmt: skip


def test_hand_made_series_same_fills_and_pnl() -> None:
    a, b = both(Settings(config=config(), **PREMIUM), HAND, {HOUR: D("0.0001")})
    assert len(a.fills) == 5
    assert_same(a, b)
    assert b.total == D("17.9716")  # the kernel test's worked figure


GBM = gbm_candles(150, seed=3, start_price=3000.0, volatility=1.5)


@pytest.mark.parametrize(
    "overrides",
    [
        {},  # post-only grid: maker fills only
        {"post_only": False, "max_open_orders": 4},  # plain limit orders, fewer at once
        {"max_position_notional": D("700")},  # the position cap
        {"stop_loss_price": D("2985"), "flatten_on_stop": True},  # a stop with a market close
    ],
)
def test_gbm_series_same_fills_and_pnl(overrides: dict[str, object]) -> None:
    cfg = config(step=D("6"), levels_per_side=5, size=D("0.1"), **overrides)
    a, b = both(Settings(config=cfg, **PREMIUM, slippage_bps=D(3)), GBM)
    assert len(a.fills) >= 10
    assert (a.capped_candles > 0) == ("max_position_notional" in overrides)
    assert (a.halted == "stop_loss") == ("stop_loss_price" in overrides)
    assert_same(a, b)


@pytest.mark.parametrize(("collateral", "levels"), [(D("15"), 5), (D("20"), 3)])
def test_margin_refusals_and_liquidation_same_in_both_modes(collateral: D, levels: int) -> None:
    cfg = config(step=D("2"), levels_per_side=levels, size=D("0.1"))
    leverage = D(50)
    a, b = both(Settings(config=cfg, collateral=collateral, leverage=leverage, **PREMIUM), GBM)
    assert a.refused > 0 and a.halted == "liquidation"
    assert a.halt_reason == b.halt_reason
    assert_same(a, b)


def test_the_venues_price_band_makes_them_differ() -> None:
    # One level a side, step 60, around 100: the buy at 40 and the sell at 160 are more than
    # 50 % from the mark, which the venue refuses (21734) and the fill model does not model. The
    # candle 100 -> 100 -> 30 -> 100 then crosses 40 within one leg of the walk: the fill model
    # buys at 40 and sells at 100 (+60); on the venue the bot had no buy there, and at 30 its
    # post-only buy at 40 would cross (refused), so it trades nothing.
    series = kernel.CandleSeries([0], [D(100)], [D(100)], [D(30)], [D(100)])
    a, b = both(Settings(config=config(step=D("60"), levels_per_side=1)), series)
    assert [(f.side, f.price) for f in a.fills] == [("buy", D("40.00")), ("sell", D("100.00"))]
    assert a.total == D(60) and a.refused == 0
    assert b.fills == () and b.total == 0 and b.refused > 0


def test_an_order_older_than_30_days_expires_on_the_venue_and_is_placed_again() -> None:
    # Two candles 30 days and a minute apart: the venue cancels the grid's orders at their
    # 30-day expiry (canceled-expired, not a refusal); the grid places them again at the next
    # price it sees, and the second candle (100 -> 85 -> 100 -> 86) fills the buy at 90, the
    # sell at 100 and the buy at 90 again in both modes alike.
    later = 30 * 86_400_000 + 60_000
    series = kernel.CandleSeries(
        [0, later], [D(100), D(100)], [D(100), D(100)], [D(100), D(85)], [D(100), D(86)]
    )
    sim = venue.VenueRun(Settings(config=config()), 0, D(100))
    ended: list[str] = []
    hear = sim.strategy.on_event

    def spy(event: object) -> object:
        if isinstance(event, OrderEnded):
            ended.append(event.reason)
        return hear(event)  # type: ignore[arg-type]

    sim.strategy.on_event = spy  # type: ignore[method-assign]
    b = kernel.drive(sim, series)
    a = kernel.run(Settings(config=config()), series)
    assert ended.count("canceled-expired") == 4  # both levels on both sides
    assert [(f.side, f.price) for f in b.fills] == [
        ("buy", D("90.00")),
        ("sell", D("100.00")),
        ("buy", D("90.00")),
    ]
    assert_same(a, b)
