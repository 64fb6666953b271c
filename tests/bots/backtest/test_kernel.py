"""The backtest kernel on hand-made candles (every fill and amount worked out below), its
determinism, its decision-skipping shortcut, and its purity."""

from __future__ import annotations

import ast
from decimal import Decimal as D
from pathlib import Path

import pytest

from bots.backtest.kernel import CandleSeries, Result, Settings, capital_needed, path_of, run
from bots.backtest.synthetic import gbm_candles
from bots.strategies.grid import GridConfig, SizeMode, Spacing

ROOT = Path(__file__).resolve().parents[3]
HOUR = 3_600_000


def config(**overrides: object) -> GridConfig:
    fields: dict[str, object] = dict(
        spacing=Spacing.ARITHMETIC,
        step=D("10"),
        levels_per_side=2,
        size_mode=SizeMode.BASE,
        size=D("1"),
        tick_size=D("0.01"),
        lot_size=D("0.001"),
    )
    fields.update(overrides)
    return GridConfig(**fields)  # type: ignore[arg-type]


def candles(*rows: tuple[int, str, str, str, str]) -> CandleSeries:
    return CandleSeries(
        [r[0] for r in rows],
        [D(r[1]) for r in rows],
        [D(r[2]) for r in rows],
        [D(r[3]) for r in rows],
        [D(r[4]) for r in rows],
    )


# Three candles around 100 (grid: step 10, 2 levels a side, 1 base each, anchor 100):
# 1: 100 -> 112 -> 95 -> 105 (closed up: O H L C)
# 2: 105 -> 85 -> 106 -> 88 (closed down: O L H C)
# 3: at the hour, funding 0.0001 on a long of 1 at 88; 88 -> 89 -> 87 -> 88, no fill.
HAND = candles(
    (0, "100", "112", "95", "105"),
    (60_000, "105", "106", "85", "88"),
    (HOUR, "88", "89", "87", "88"),
)
PREMIUM = {"maker_fee_ppm": 40, "taker_fee_ppm": 280}


def fills_of(result: Result) -> list[tuple[int, str, D, D, bool, int | None]]:
    return [(f.time_ms, f.side, f.price, f.fee, f.is_maker, f.level) for f in result.fills]


def test_path_inside_a_candle() -> None:
    assert path_of(D(1), D(3), D(0), D(2)) == (D(1), D(3), D(0), D(2))  # closed up: O H L C
    assert path_of(D(2), D(3), D(0), D(1)) == (D(2), D(0), D(3), D(1))  # closed down: O L H C


def test_hand_made_series_fills_and_pnl() -> None:
    result = run(Settings(config=config(), **PREMIUM), HAND, {HOUR: D("0.0001")})
    # Candle 1 rises to 112: the sell at 110 (level 1) fills; falling to 95 the buy placed at
    # 100 (level 0) after it fills: a round trip of 10. Fees: 40 ppm of 110 and of 100.
    # Candle 2 falls to 85: the buy at 90 (level -1) fills; rising to 106 the sell placed at 100
    # (level 0) fills: a second round trip of 10; falling to 88 the buy re-placed at 90 fills.
    assert fills_of(result) == [
        (0, "sell", D("110.00"), D("0.0044"), True, 1),
        (0, "buy", D("100.00"), D("0.004"), True, 0),
        (60_000, "buy", D("90.00"), D("0.0036"), True, -1),
        (60_000, "sell", D("100.00"), D("0.004"), True, 0),
        (60_000, "buy", D("90.00"), D("0.0036"), True, -1),
    ]
    assert result.round_trips == 2
    assert result.grid_profit == D("20")
    assert result.other_realized == 0
    assert result.position_base == D("1")
    assert result.inventory == D("-2")  # long 1 from 90, marked at 88
    assert result.fees == D("0.0196")
    assert result.funding == D("-0.0088")  # 1 x 88 x 0.0001 paid by the long
    assert result.total == D("20") - D("2") - D("0.0196") - D("0.0088")
    # Equity after each candle: 9.9916, 17.9804, 17.9716: the drawdown is the funding paid.
    assert [e for _, _, e in result.equity] == [D("9.9916"), D("17.9804"), D("17.9716")]
    assert result.max_drawdown == D("0.0088")
    assert result.capital == D("200")  # one side filled: 2 levels x 1 x 100
    summary = result.summary()
    assert summary["total"] == "17.97"
    assert summary["return_percent"] == "8.99"
    assert summary["fill_count"] == 5
    assert result.refused == 0 and result.halted == ""
    assert summary["time_at_cap_percent"] == "0.00"  # no cap configured


def test_stop_loss_halts_and_flattens_with_slippage() -> None:
    cfg = config(stop_loss_price=D("85"), flatten_on_stop=True)
    result = run(Settings(config=cfg, slippage_bps=D("5"), **PREMIUM), HAND)
    # As above until the buy at 90 in candle 2; the walk then reaches 85 = the stop: every order
    # is cancelled and the long of 1 is sold at 85 less 5 bps = 84.9575, rounded down to 84.95,
    # as a taker (280 ppm: 0.023786). Nothing fills after that.
    assert fills_of(result) == [
        (0, "sell", D("110.00"), D("0.0044"), True, 1),
        (0, "buy", D("100.00"), D("0.004"), True, 0),
        (60_000, "buy", D("90.00"), D("0.0036"), True, -1),
        (60_000, "sell", D("84.95"), D("0.023786"), False, None),
    ]
    assert result.halted == "stop_loss"
    assert result.position_base == 0
    assert result.grid_profit == D("10")
    assert result.other_realized == D("-5.05")
    assert result.total == D("4.95") - D("0.035786")


def test_standard_tier_pays_no_fees() -> None:
    result = run(Settings(config=config()), HAND)
    assert result.fees == 0
    assert len(result.fills) == 5


def test_position_cap_limits_the_buys() -> None:
    # A cap of 150 quote, valued at each order's price: a long of 2 is allowed at 80 or 70
    # (160 > 150 is not, 140 is), a long of 3 at 60 is not (180).
    # Flat candles stepping down by 6 from 100 to 52: the walk between them only falls.
    rows = [(i * 60_000, *[str(100 - 6 * i)] * 4) for i in range(9)]
    capped = run(Settings(config=config(max_position_notional=D("150"))), candles(*rows))
    # 90 fills; the buy at 80 is not placed (2 x 80 = 160); once the price passes 80 the centre
    # rolls to 80 and the buy at 70 is placed (2 x 70 = 140) and fills; 60 never is (3 x 60).
    assert [(f.side, f.price) for f in capped.fills] == [("buy", D("90.00")), ("buy", D("70.00"))]
    assert capped.position_base == 2
    # At the cap from the close at 88 (long 1: 88 + one more level 88 > 150) on: 7 of 9 closes.
    assert capped.capped_candles == 7
    assert capped.summary()["time_at_cap_percent"] == "77.78"
    assert capital_needed(config(max_position_notional=D("150")), D(100), D(1)) == D(150)


def test_post_only_order_that_would_cross_is_refused() -> None:
    # Geometric levels finer than a tick collapse (the core drops them), so nothing crosses on
    # its own; a grid always keeps off the touch. The refusal path: see the kernel's `_place`.
    result = run(Settings(config=config()), candles((0, "100", "100", "100", "100")))
    assert result.refused == 0 and result.fills == ()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_deterministic_and_skipping_decisions_changes_nothing(seed: int) -> None:
    series = gbm_candles(1500, seed=seed, volatility=1.0)
    cfg = GridConfig(
        spacing=Spacing.GEOMETRIC,
        step=D("0.001"),
        levels_per_side=4,
        size_mode=SizeMode.QUOTE,
        size=D("50"),
        tick_size=D("0.01"),
        lot_size=D("0.0001"),
        min_quote_amount=D("10"),
        max_position_notional=D("400"),
    )
    funding = {t: D("0.00002") for t in series.times if t % HOUR == 0}
    fast = run(Settings(config=cfg, **PREMIUM), series, funding)
    again = run(Settings(config=cfg, **PREMIUM), series, funding)
    # Eager: every point of every candle walked and decided (no quiet-candle or decision skip).
    eager = run(Settings(config=cfg, eager=True, **PREMIUM), series, funding)
    assert len(fast.fills) > 20 and fast.funding != 0
    assert fast == again
    assert fast.fills == eager.fills
    assert fast.summary() == eager.summary()


def test_the_kernel_is_pure() -> None:
    for name in ("kernel.py", "synthetic.py"):
        tree = ast.parse((ROOT / "bots" / "backtest" / name).read_text())
        roots = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                roots.add(node.module)
        outside = {m for m in roots if not m.startswith(("bots.strategies", "bots.backtest"))}
        assert outside <= {"__future__", "bisect", "collections.abc", "dataclasses", "decimal",
                           "itertools", "math", "operator", "random"}, outside  # fmt: skip


# Margin: grid step 10, 2 levels a side of 1 base around 100, leverage 20 (initial margin 5 %),
# maintenance 1.2 % (the simulator's default), collateral 8 USDC, no fees.
MARGIN = candles(
    (0, "100", "100", "95", "95"),
    (60_000, "95", "95", "90", "91"),
    (120_000, "91", "91", "82", "84"),
    (180_000, "84", "90", "80", "88"),
)


def test_margin_refuses_placements_and_liquidation_ends_the_backtest() -> None:
    result = run(Settings(config=config(), collateral=D("8"), leverage=D(20)), MARGIN)
    # At 100 with no position: the buy at 90 reserves 1 x 100 x 5 % = 5; the sell at 110 adds
    # nothing (worst case: every buy OR every sell fills, max(1, 1) = 1 lot); the buy at 80
    # would make it max(2, 1) x 5 = 10 > 8: refused (canceled-margin-not-allowed), as the sell
    # at 120. Candle 2 falls to 90: the buy fills (long 1 at 90). Rising to 95 the equity is
    # 8 + 5 = 13 and the buy at 80 fits: 95 x 5 % (position) + 95 x 5 % (one more) = 9.50.
    # Candle 3 falls to 82: equity 8 + (82 - 90) = 0 < maintenance 82 x 1.2 % = 0.984: the long
    # is closed at 82 (no fee: the insurance fund takes it), orders cancelled, the bot ends.
    assert [(f.time_ms, f.side, f.price, f.size_base, f.fee, f.is_maker, f.level)
            for f in result.fills] == [
        (60_000, "buy", D("90.00"), D("1.000"), D(0), True, -1),
        (120_000, "sell", D("82"), D("1.000"), D(0), False, None),
    ]  # fmt: skip
    assert result.halted == "liquidation"
    assert result.halt_reason == (
        "liquidated at 82 on 1970-01-01 00:02: equity 0.00 below the maintenance margin 0.98"
    )
    assert result.other_realized == D(-8) and result.total == D(-8)
    assert result.position_base == 0 and result.refused == 19
    summary = result.summary()
    assert summary["halted"] == "liquidation" and summary["halt_reason"] == result.halt_reason
    # Without a collateral (the default) margin never binds: both buys fill, nothing is refused.
    free = run(Settings(config=config()), MARGIN)
    assert free.refused == 0 and free.halted == "" and free.position_base == D(2)


# Partial fills: half of each candle's base volume is the bot's (volume_share 0.5).
# 1: 100 -> 112 -> 104 -> 105, volume 0.8: 0.4 for the bot. The sell at 110 (level 1) fills
#    0.4 of its 1; the centre moves to 1 and the core cancels the rest (its level is the centre),
#    placing the buy at 100 (level 0); the volume is used up; 104 reaches no order.
# 2: 105 -> 95 -> 106 -> 96, volume 5: 2.5 for the bot. Falling to 95 the buy at 100 fills
#    whole (1 of 2.5); nothing else is reached.
# Books: 0.4 sold at 110 and bought back at 100 = 4.00 grid profit; the other 0.6 bought at 100
# is long at the close 96: inventory -2.40; total 1.60 (standard tier: no fees).
PARTIAL = CandleSeries(
    [0, 60_000],
    [D("100"), D("105")],
    [D("112"), D("106")],
    [D("104"), D("95")],
    [D("105"), D("96")],
    [D("0.8"), D("5")],
)


def test_partial_fills_bounded_by_the_candles_volume() -> None:
    result = run(Settings(config=config(), volume_share=D("0.5")), PARTIAL)
    assert [(f.time_ms, f.side, f.price, f.size_base, f.level) for f in result.fills] == [
        (0, "sell", D("110.00"), D("0.400"), 1),
        (60_000, "buy", D("100.00"), D("1"), 0),
    ]
    assert result.grid_profit == D("4.00")
    assert result.position_base == D("0.600")
    assert result.inventory == D("-2.40")
    assert result.total == D("1.60")
    # Without the bound the same candles fill the sell whole, and the buy the same way.
    whole = run(Settings(config=config()), PARTIAL)
    assert [(f.side, f.size_base) for f in whole.fills] == [("sell", D("1")), ("buy", D("1"))]
    assert whole.grid_profit == D("10.00") and whole.position_base == 0


def test_partial_fills_round_down_to_the_lot_and_need_volumes() -> None:
    tiny = CandleSeries([0], [D("100")], [D("112")], [D("104")], [D("105")], [D("0.0019")])
    # 0.5 x 0.0019 = 0.00095: below the lot (0.001): nothing fills.
    assert run(Settings(config=config(), volume_share=D("0.5")), tiny).fills == ()
    with pytest.raises(ValueError, match="volume_share"):
        run(Settings(config=config(), volume_share=D("0.5")), HAND)
