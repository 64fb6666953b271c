"""The pure grid preview, checked against numbers worked out by hand."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bots.strategies.grid import GridConfig, Side, SizeMode, Spacing
from bots.strategies.grid.preview import grid_preview, liquidation_price

PREMIUM_MAKER = D("0.00004")  # 0.004 %
PREMIUM_TAKER = D("0.00028")
MAINTENANCE = D("0.012")  # ETH: 120 / 10_000


def eth(**overrides: object) -> GridConfig:
    values: dict[str, object] = {
        "spacing": Spacing.ARITHMETIC,
        "step": D("10"),
        "levels_per_side": 3,
        "size_mode": SizeMode.BASE,
        "size": D("0.1"),
        "tick_size": D("0.01"),
        "lot_size": D("0.0001"),
        "min_base_amount": D("0.005"),
        "min_quote_amount": D("10"),
        "max_position_notional": D("1000"),
    }
    values.update(overrides)
    return GridConfig(**values)  # type: ignore[arg-type]


def preview(config: GridConfig, price: str = "3000", leverage: str = "5"):  # type: ignore[no-untyped-def]
    return grid_preview(
        config,
        D(price),
        leverage=D(leverage),
        maker_fee_rate=PREMIUM_MAKER,
        taker_fee_rate=PREMIUM_TAKER,
        maintenance_fraction=MAINTENANCE,
    )


def test_levels_sit_one_step_apart_around_the_centre_price() -> None:
    result = preview(eth())
    assert result.valid
    assert result.centre_price == D("3000")
    assert [(lv.side, lv.price) for lv in result.levels] == [
        (Side.SELL, D("3030")),
        (Side.SELL, D("3020")),
        (Side.SELL, D("3010")),
        (Side.BUY, D("2990")),
        (Side.BUY, D("2980")),
        (Side.BUY, D("2970")),
    ]


def test_capital_is_the_larger_side_and_margin_divides_it_by_the_leverage() -> None:
    result = preview(eth())
    assert result.buy_notional_quote == D("894")  # 299 + 298 + 297
    assert result.sell_notional_quote == D("906")  # 301 + 302 + 303
    assert result.capital_quote == D("906")
    assert result.margin_quote == D("181.2")


def test_step_profit_pays_the_maker_fee_on_both_legs() -> None:
    result = preview(eth())
    by_price = {lv.price: lv.step_profit_quote for lv in result.levels}
    # Buy 0.1 at 2990, sell at 3000: 1 quote gross, fees 0.00004 * 0.1 * (2990 + 3000).
    assert by_price[D("2990")] == D("0.97604")
    # Sell 0.1 at 3030, buy back at 3020: 1 - 0.00004 * 0.1 * 6050.
    assert by_price[D("3030")] == D("0.9758")
    assert result.step_profit_min_quote == D("0.9758")
    assert result.step_profit_min_percent.quantize(D("0.0001")) == D("0.3220")  # 0.9758 / 303


def test_without_post_only_the_taker_fee_is_assumed() -> None:
    result = preview(eth(post_only=False))
    assert result.fee_rate == PREMIUM_TAKER
    by_price = {lv.price: lv.step_profit_quote for lv in result.levels}
    assert by_price[D("2990")] == D("1") - PREMIUM_TAKER * D("0.1") * D("5990")


def test_position_cap_binds_after_three_buys_and_liquidation_is_estimated_there() -> None:
    result = preview(eth())
    long = result.long_cap
    assert long is not None and long.binds
    # 0.3 ETH bought at 2990, 2980, 2970 (891 quote); a fourth at 2960 would be 0.4 * 2960.
    assert (long.orders, long.last_price, long.position_base) == (3, D("2970"), D("0.3"))
    assert long.entry_price == D("2980")
    # 2980 * (1 - 1/5) / (1 - 0.012) = 2412.955..., on the tick.
    assert long.liquidation_price == D("2412.96")
    short = result.short_cap
    assert short is not None and (short.orders, short.position_base) == (3, D("-0.3"))
    assert short.entry_price == D("3020")
    # 3020 * (1 + 1/5) / (1 + 0.012) = 3581.027...
    assert short.liquidation_price == D("3581.03")


def test_liquidation_formula_long_and_short() -> None:
    assert liquidation_price(Side.BUY, D("100"), D("10"), D("0")) == D("90")
    assert liquidation_price(Side.SELL, D("100"), D("10"), D("0")) == D("110")


def test_a_step_that_puts_a_buy_at_or_below_zero_is_refused_on_the_step() -> None:
    result = preview(eth(step=D("1000"), max_position_notional=D("100000")))
    assert "step" in result.errors
    assert "(<= 0)" in result.errors["step"]
    assert all(lv.price > 0 for lv in result.levels)


def test_a_base_size_below_the_market_minimum_is_refused_on_the_size() -> None:
    result = preview(eth(size=D("0.001")))
    assert result.errors["size"] == "Each order must be at least 0.005 base (got 0.001)."


def test_a_quote_size_below_the_minimum_is_refused_in_quote_units() -> None:
    result = preview(eth(size_mode=SizeMode.QUOTE, size=D("5")))
    assert "quote" in result.errors["size"]
    assert "use at least" in result.errors["size"]
    assert "14.85 quote" in result.errors["size"]  # 0.005 base at the 2970 buy


def test_a_quote_size_worth_less_than_the_quote_minimum_names_the_quote_minimum() -> None:
    result = preview(eth(size_mode=SizeMode.QUOTE, size=D("16"), min_quote_amount=D("20")))
    assert "below the market minimum of 20 quote" in result.errors["size"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"stop_loss_price": D("2975")}, "stop_loss_price"),
        ({"stop_loss_price": D("3000")}, "stop_loss_price"),
        ({"take_profit_price": D("3020")}, "take_profit_price"),
        ({"take_profit_price": D("2999")}, "take_profit_price"),
    ],
)
def test_levels_beyond_the_price_bounds_are_refused_on_the_bound(
    overrides: dict[str, D], field: str
) -> None:
    assert field in preview(eth(**overrides)).errors


def test_bounds_outside_the_window_are_fine() -> None:
    result = preview(eth(stop_loss_price=D("2900"), take_profit_price=D("3100")))
    assert result.valid


def test_geometric_levels_round_buys_down_and_sells_up() -> None:
    result = preview(eth(spacing=Spacing.GEOMETRIC, step=D("0.01"), levels_per_side=1))
    assert [lv.price for lv in result.levels] == [
        D("3030"),
        D("2970.29"),
    ]  # 3000 / 1.01 = 2970.297 -> down
