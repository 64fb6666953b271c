"""Table-driven unit tests of the pure grid core (bots/grid.py)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest

from bots.strategies.grid import (
    DesiredOrder,
    GridConfig,
    GridState,
    Lattice,
    LiveOrder,
    MarketView,
    RiskTrigger,
    Side,
    SizeMode,
    Spacing,
    desired_orders,
    initial_state,
    on_fill,
    on_price,
    plan,
    risk_check,
    round_price,
    round_size,
    step_from_bps,
    step_from_percent,
    stop_plan,
    tick_from_decimals,
)
from bots.strategies.grid.strategy import GridStrategy
from bots.strategies.protocol import Decide, Halt, Leg

# ETH-like market: 2 price decimals, 4 size decimals, 0.005 ETH and 10 USDC minimums.
ETH = GridConfig(
    spacing=Spacing.ARITHMETIC,
    step=D("10.00"),
    levels_per_side=3,
    size_mode=SizeMode.BASE,
    size=D("0.0100"),
    tick_size=D("0.01"),
    lot_size=D("0.0001"),
    min_base_amount=D("0.0050"),
    min_quote_amount=D("10"),
)
WIDE_BOOK = MarketView(best_bid=D("1999.99"), best_ask=D("2000.01"), mid=D("2000.00"))


def cfg(**changes: Any) -> GridConfig:
    return replace(ETH, **changes)


def live_from(orders: tuple[DesiredOrder, ...], status: str = "open") -> list[LiveOrder]:
    """What the book holds after every desired order was placed."""
    return [
        LiveOrder(o.level, o.side, o.price, o.size_base, index, status)
        for index, o in enumerate(orders, start=1)
    ]


def levels(orders: tuple[DesiredOrder, ...], side: Side) -> list[int]:
    return sorted(o.level for o in orders if o.side is side)


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"step": D("0")}, "step"),
        ({"step": D("-1")}, "step"),
        ({"step": D("10.005")}, "step"),  # arithmetic step off the tick
        ({"spacing": Spacing.GEOMETRIC, "step": D("1")}, "step"),
        ({"levels_per_side": 0}, "levels_per_side"),
        ({"size": D("0")}, "size"),
        ({"size": 0.01}, "size"),
        ({"tick_size": D("0")}, "tick_size"),
        ({"tick_size": D("0.05")}, "tick_size"),  # Lighter ticks are 10**-price_decimals
        ({"lot_size": D("0.0002")}, "lot_size"),
        ({"lot_size": D("-0.0001")}, "lot_size"),
        ({"min_base_amount": D("-1")}, "min_base_amount"),
        ({"min_quote_amount": D("NaN")}, "min_quote_amount"),
        ({"max_open_orders": 0}, "max_open_orders"),
        ({"max_position_notional": D("0")}, "max_position_notional"),
        ({"stop_loss_price": D("-5")}, "stop_loss_price"),
        ({"stop_loss_price": D("2100"), "take_profit_price": D("2000")}, "stop_loss_price"),
        ({"spacing": "diagonal"}, "spacing"),
        ({"size_mode": "lots"}, "size_mode"),
    ],
)
def test_invalid_config_raises_value_error_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        cfg(**changes)


@pytest.mark.parametrize(
    ("helper", "value", "expected"),
    [
        (step_from_bps, D("50"), D("0.005")),
        (step_from_percent, D("0.5"), D("0.005")),
        (tick_from_decimals, 2, D("0.01")),
        (tick_from_decimals, 0, D("1")),
    ],
)
def test_unit_helpers_convert_exactly(helper: Any, value: Any, expected: D) -> None:
    assert helper(value) == expected


# --------------------------------------------------------------------------- rounding


@pytest.mark.parametrize(
    ("price", "side", "expected"),
    [
        (D("2000.017"), Side.BUY, D("2000.01")),
        (D("2000.011"), Side.SELL, D("2000.02")),
        (D("2000.015"), None, D("2000.02")),
        (D("2000.01"), Side.BUY, D("2000.01")),
        (D("2000.01"), Side.SELL, D("2000.01")),
    ],
)
def test_round_price_buys_down_sells_up_on_the_tick(
    price: D, side: Side | None, expected: D
) -> None:
    assert round_price(price, D("0.01"), side) == expected


@pytest.mark.parametrize(
    ("changes", "price", "expected"),
    [
        ({"size": D("0.01234")}, D("2000"), D("0.0123")),  # rounds down to the lot
        ({"size": D("0.0030")}, D("4000"), D("0.0050")),  # raised to min_base_amount
        ({"size": D("0.0060")}, D("1000"), D("0.0100")),  # raised to min_quote_amount / price
        ({"size": D("0.0060"), "min_quote_amount": D("10")}, D("1500"), D("0.0067")),
        ({"size_mode": SizeMode.QUOTE, "size": D("25")}, D("2000"), D("0.0125")),
        ({"size_mode": SizeMode.QUOTE, "size": D("25")}, D("3000"), D("0.0083")),
        ({"size_mode": SizeMode.QUOTE, "size": D("5")}, D("2000"), D("0.0050")),
        (
            {"size": D("0.00001"), "min_base_amount": D("0"), "min_quote_amount": D("0")},
            D("2000"),
            D("0.0001"),  # never below one lot
        ),
    ],
)
def test_round_size_rounds_down_to_lot_and_up_to_minimums(
    changes: dict[str, Any], price: D, expected: D
) -> None:
    assert round_size(cfg(**changes), price) == expected


def test_round_size_rejects_a_price_off_the_tick() -> None:
    with pytest.raises(ValueError, match=r"^price:"):
        round_size(ETH, D("2000.005"))


# --------------------------------------------------------------------------- lattice


def test_arithmetic_lattice_prices_are_anchor_plus_k_steps() -> None:
    lattice = Lattice(D("2000.00"), ETH)
    assert [lattice.price(k) for k in (-2, 0, 3)] == [D("1980.00"), D("2000.00"), D("2030.00")]


def test_geometric_lattice_rounds_buys_down_and_sells_up() -> None:
    lattice = Lattice(D("100.00"), cfg(spacing=Spacing.GEOMETRIC, step=D("0.015")))
    # 100 * 1.015**3 = 104.567838; 100 / 1.015 = 98.52216...
    assert lattice.price(3, Side.SELL) == D("104.57")
    assert lattice.price(3, Side.BUY) == D("104.56")
    assert lattice.price(-1, Side.BUY) == D("98.52")
    assert lattice.price(-1, Side.SELL) == D("98.53")


@pytest.mark.parametrize(
    ("price", "floor", "ceil", "nearest"),
    [
        (D("2000.00"), 0, 0, 0),
        (D("2004.99"), 0, 1, 0),
        (D("2005.00"), 0, 1, 0),  # exact tie goes to the lower level
        (D("2005.01"), 0, 1, 1),
        (D("1990.00"), -1, -1, -1),
        (D("1971.00"), -3, -2, -3),
    ],
)
def test_arithmetic_index_floor_ceil_nearest(price: D, floor: int, ceil: int, nearest: int) -> None:
    lattice = Lattice(D("2000.00"), ETH)
    assert (lattice.index_floor(price), lattice.index_ceil(price)) == (floor, ceil)
    assert lattice.index_nearest(price) == nearest


@pytest.mark.parametrize(
    ("price", "floor", "nearest"),
    [
        (D("100"), 0, 0),
        (D("101"), 1, 1),  # exactly on P(1)
        (D("100.5"), 0, 0),  # halfway: ties go to the lower level
        (D("121.90"), 19, 20),  # P(19) = 120.81, P(20) = 122.02
        (D("81.95"), -21, -20),  # just below P(-20) = 81.954
    ],
)
def test_geometric_index_brackets_the_price(price: D, floor: int, nearest: int) -> None:
    lattice = Lattice(D("100"), cfg(spacing=Spacing.GEOMETRIC, step=D("0.01")))
    assert lattice.index_floor(price) == floor
    assert lattice.raw_price(floor) <= price < lattice.raw_price(floor + 1)
    assert lattice.index_nearest(price) == nearest


def test_lattice_rejects_an_anchor_off_the_tick() -> None:
    with pytest.raises(ValueError, match=r"^anchor:"):
        Lattice(D("2000.001"), ETH)


# --------------------------------------------------------------------------- desired orders


def test_initial_state_anchors_on_the_mid_rounded_to_the_tick() -> None:
    assert initial_state(ETH, D("2000.004")) == GridState(anchor=D("2000.00"), centre=0)


def test_initial_state_with_a_given_anchor_centres_on_the_nearest_level() -> None:
    assert initial_state(ETH, D("2031"), anchor=D("2000.00")).centre == 3


def test_desired_orders_surround_an_empty_centre_nearest_first() -> None:
    orders = desired_orders(initial_state(ETH, D("2000")), ETH, WIDE_BOOK, D("0"))
    assert [(o.side, o.level, o.price) for o in orders] == [
        (Side.BUY, -1, D("1990.00")),
        (Side.SELL, 1, D("2010.00")),
        (Side.BUY, -2, D("1980.00")),
        (Side.SELL, 2, D("2020.00")),
        (Side.BUY, -3, D("1970.00")),
        (Side.SELL, 3, D("2030.00")),
    ]
    assert all(o.size_base == D("0.0100") and o.post_only for o in orders)


def test_max_open_orders_drops_the_farthest_levels() -> None:
    config = cfg(max_open_orders=3)
    orders = desired_orders(initial_state(config, D("2000")), config, WIDE_BOOK, D("0"))
    assert [o.level for o in orders] == [-1, 1, -2]


@pytest.mark.parametrize(
    ("book", "buys", "sells"),
    [
        (MarketView(D("1999"), D("1990.00"), D("2000")), [-3, -2], [1, 2, 3]),
        (MarketView(D("1999"), D("1985.00"), D("2000")), [-3, -2], [1, 2, 3]),
        (MarketView(D("2010.00"), D("2011"), D("2000")), [-3, -2, -1], [2, 3]),
        (MarketView(D("2021.00"), D("2022"), D("2000")), [-3, -2, -1], [3]),
        (MarketView(None, None, D("2000")), [-3, -2, -1], [1, 2, 3]),
    ],
)
def test_post_only_safety_drops_levels_that_would_cross(
    book: MarketView, buys: list[int], sells: list[int]
) -> None:
    orders = desired_orders(initial_state(ETH, D("2000")), ETH, book, D("0"))
    assert (levels(orders, Side.BUY), levels(orders, Side.SELL)) == (buys, sells)


@pytest.mark.parametrize(
    ("position", "buys", "sells"),
    [
        (D("0"), [-3, -2, -1], [1, 2, 3]),  # 3 x 0.01 x ~2000 = ~60 < 65 on each side
        (D("0.0100"), [-2, -1], [1, 2, 3]),  # long: the third buy would reach 0.04 x 1970
        (D("0.0300"), [], [1, 2, 3]),  # 0.04 x 1990 = 79.6 > 65: no buy at all
        (D("-0.0300"), [-3, -2, -1], []),
        (D("0.0500"), [], [1, 2, 3]),  # already above the cap: sells still reduce it
    ],
)
def test_position_cap_closes_the_side_that_grows_exposure(
    position: D, buys: list[int], sells: list[int]
) -> None:
    config = cfg(max_position_notional=D("65"))
    orders = desired_orders(initial_state(config, D("2000")), config, WIDE_BOOK, position)
    assert (levels(orders, Side.BUY), levels(orders, Side.SELL)) == (buys, sells)


def test_quote_size_mode_sizes_each_level_at_its_own_price() -> None:
    config = cfg(size_mode=SizeMode.QUOTE, size=D("20"))
    orders = desired_orders(initial_state(config, D("2000")), config, WIDE_BOOK, D("0"))
    sizes = {o.level: o.size_base for o in orders}
    assert sizes[-3] == D("0.0101")  # 20 / 1970 = 0.010152, down to the lot
    assert sizes[3] == D("0.0098")  # 20 / 2030 = 0.009852


def test_arithmetic_levels_at_or_below_zero_are_left_out() -> None:
    config = cfg(step=D("40.00"), min_quote_amount=D("0"))
    book = MarketView(D("99.99"), D("100.01"), D("100"))
    orders = desired_orders(initial_state(config, D("100")), config, book, D("0"))
    assert [o.price for o in orders if o.side is Side.BUY] == [D("60.00"), D("20.00")]


def test_geometric_levels_finer_than_a_tick_never_share_a_price() -> None:
    config = cfg(spacing=Spacing.GEOMETRIC, step=D("0.0005"), tick_size=D("1"), levels_per_side=8)
    book = MarketView(D("999"), D("1001"), D("1000"))
    orders = desired_orders(initial_state(config, D("1000")), config, book, D("0"))
    buys = [o.price for o in orders if o.side is Side.BUY]
    assert len(buys) == len(set(buys)) == 4  # 8 levels of 0.5 collapse onto 4 ticks


# --------------------------------------------------------------------------- fills and rolls


def test_buy_fill_places_sell_one_level_up() -> None:
    state = initial_state(ETH, D("2000"))
    before = desired_orders(state, ETH, WIDE_BOOK, D("0"))
    live = [o for o in live_from(before) if o.level != -1]  # the buy at 1990 traded
    after_fill = on_fill(state, ETH, Side.BUY, -1)
    book = MarketView(D("1989.99"), D("1990.01"), D("1990"))
    step = plan(desired_orders(after_fill, ETH, book, D("0.0100")), live)
    assert after_fill.centre == -1
    assert {(o.side, o.level, o.price) for o in step.creates} == {
        (Side.SELL, 0, D("2000.00")),  # the replenish
        (Side.BUY, -4, D("1960.00")),  # the window extends down
    }
    assert [(o.side, o.level) for o in step.cancels] == [(Side.SELL, 3)]


def test_sell_fill_places_buy_one_level_down() -> None:
    state = initial_state(ETH, D("2000"))
    before = desired_orders(state, ETH, WIDE_BOOK, D("0"))
    live = [o for o in live_from(before) if o.level != 1]
    after_fill = on_fill(state, ETH, Side.SELL, 1)
    book = MarketView(D("2009.99"), D("2010.01"), D("2010"))
    step = plan(desired_orders(after_fill, ETH, book, D("-0.0100")), live)
    assert {(o.side, o.level, o.price) for o in step.creates} == {
        (Side.BUY, 0, D("2000.00")),
        (Side.SELL, 4, D("2040.00")),
    }
    assert [(o.side, o.level) for o in step.cancels] == [(Side.BUY, -3)]


@pytest.mark.parametrize(
    ("mid", "centre"),
    [
        (D("2009.99"), 0),  # inside the band (P(-1), P(1)): no churn
        (D("1990.01"), 0),
        (D("2010.00"), 1),  # reached the next level
        (D("2047.00"), 4),  # gapped: the highest level at or below the mid
        (D("1990.00"), -1),
        (D("1951.00"), -4),  # the lowest level at or above the mid
    ],
)
def test_on_price_rolls_only_when_the_mid_reaches_a_neighbouring_level(mid: D, centre: int) -> None:
    assert on_price(GridState(D("2000.00"), 0), ETH, mid).centre == centre


def test_geometric_on_price_rolls_to_the_last_level_crossed() -> None:
    config = cfg(spacing=Spacing.GEOMETRIC, step=D("0.01"))
    state = initial_state(config, D("100.00"))
    assert on_price(state, config, D("100.99")) is state  # P(1) = 101.00 not reached
    assert on_price(state, config, D("103.10")).centre == 3  # P(3) = 103.0301
    assert on_price(state, config, D("97.00")).centre == -3  # P(-3) = 97.0590


@pytest.mark.parametrize(
    ("side", "level", "centre"),
    [
        (Side.BUY, -2, -2),
        (Side.SELL, 3, 3),
        (Side.BUY, 1, 0),  # late: the price already took the centre below this buy
        (Side.SELL, -1, 0),
    ],
)
def test_a_fill_moves_the_centre_to_its_level_but_never_back(
    side: Side, level: int, centre: int
) -> None:
    assert on_fill(GridState(D("2000.00"), 0), ETH, side, level).centre == centre


def test_a_fill_at_the_centre_changes_nothing() -> None:
    state = GridState(D("2000.00"), 0)
    assert on_fill(state, ETH, Side.BUY, 0) is state


def test_post_only_off_still_never_crosses_but_marks_orders_as_resting_limits() -> None:
    config = cfg(post_only=False)
    book = MarketView(D("1999"), D("1990.00"), D("2000"))
    orders = desired_orders(initial_state(config, D("2000")), config, book, D("0"))
    assert levels(orders, Side.BUY) == [-3, -2]
    assert not any(o.post_only for o in orders)


def test_market_view_rejects_a_non_positive_mid() -> None:
    with pytest.raises(ValueError, match=r"^mid:"):
        MarketView(None, None, D("0"))


def test_on_price_inside_the_band_returns_the_same_state() -> None:
    state = GridState(D("2000.00"), 0)
    assert on_price(state, ETH, D("2005")) is state


# --------------------------------------------------------------------------- risk


@pytest.mark.parametrize(
    ("mark", "position", "flatten", "trigger", "flatten_base"),
    [
        (D("1950"), D("0.5"), True, RiskTrigger.NONE, D("0")),
        (D("1900"), D("0.5"), True, RiskTrigger.STOP_LOSS, D("-0.5")),
        (D("1899"), D("0.5"), False, RiskTrigger.STOP_LOSS, D("0")),
        (D("2100"), D("-0.2"), True, RiskTrigger.TAKE_PROFIT, D("0.2")),
        (D("2100.01"), D("0"), True, RiskTrigger.TAKE_PROFIT, D("0")),
    ],
)
def test_risk_check_fires_at_the_exit_prices(
    mark: D, position: D, flatten: bool, trigger: RiskTrigger, flatten_base: D
) -> None:
    config = cfg(stop_loss_price=D("1900"), take_profit_price=D("2100"), flatten_on_stop=flatten)
    action = risk_check(config, position, mark)
    assert (action.trigger, action.flatten_base) == (trigger, flatten_base)


@pytest.mark.parametrize(
    ("mid", "mark", "trigger"),
    [
        # The book froze (or wicked) above the stop while the mark fell through it: exit.
        (D("1950"), D("1899"), RiskTrigger.STOP_LOSS),
        # A wick of the book's mid through the stop, the mark above it: no exit.
        (D("1899"), D("1950"), RiskTrigger.NONE),
        (D("2101"), D("2050"), RiskTrigger.NONE),
        (D("2050"), D("2100"), RiskTrigger.TAKE_PROFIT),
        # No mark known (a backtest's candles, before the first): the mid.
        (D("1899"), None, RiskTrigger.STOP_LOSS),
        (D("2100"), None, RiskTrigger.TAKE_PROFIT),
    ],
)
def test_the_grids_exits_judge_the_mark_and_the_mid_only_without_one(
    mid: D, mark: D | None, trigger: RiskTrigger
) -> None:
    """As Lighter's own stop-loss and take-profit orders trigger on the mark price."""
    config = cfg(stop_loss_price=D("1900"), take_profit_price=D("2100"), flatten_on_stop=True)
    leg = Leg(1, 1)
    strategy = GridStrategy(leg, config, state=initial_state(config, D("2000")))
    market = MarketView(mid - D("0.01"), mid + D("0.01"), mid, mark)

    assert strategy.exit_due(market) is (trigger is not RiskTrigger.NONE)
    intents = strategy.on_event(Decide(leg, market, []))
    halts = [i for i in intents if isinstance(i, Halt)]
    assert [h.trigger for h in halts] == ([] if trigger is RiskTrigger.NONE else [trigger])
    assert strategy.exit_prices() == (D("1900"), D("2100"))


def test_no_orders_are_desired_once_the_stop_loss_is_crossed() -> None:
    config = cfg(stop_loss_price=D("1995"))
    book = MarketView(D("1994"), D("1995"), D("1994.5"))
    assert desired_orders(initial_state(config, D("2000")), config, book, D("0")) == ()


def test_stop_plan_cancels_our_orders_keeps_foreign_ones_and_flattens() -> None:
    ours = live_from(desired_orders(initial_state(ETH, D("2000")), ETH, WIDE_BOOK, D("0")))
    foreign = LiveOrder(None, Side.BUY, D("1500.00"), D("1"), 99, "open")
    action = risk_check(cfg(stop_loss_price=D("1990"), flatten_on_stop=True), D("0.03"), D("1989"))
    step = stop_plan([*ours, foreign], action)
    assert step.creates == ()
    assert set(step.cancels) == set(ours)
    assert step.foreign == (foreign,)
    assert step.flatten_base == D("-0.03")
    assert step.reason.startswith("stop_loss")


# --------------------------------------------------------------------------- plan, the diff


def test_plan_of_a_placed_grid_is_in_sync() -> None:
    desired = desired_orders(initial_state(ETH, D("2000")), ETH, WIDE_BOOK, D("0"))
    step = plan(desired, live_from(desired))
    assert step.is_empty and step.reason == "in sync"


def test_plan_keeps_the_oldest_of_duplicate_orders_at_one_level() -> None:
    desired = desired_orders(initial_state(ETH, D("2000")), ETH, WIDE_BOOK, D("0"))
    twin = LiveOrder(-1, Side.BUY, D("1990.00"), D("0.0100"), 50, "pending")
    step = plan(desired, [*live_from(desired), twin])
    assert step.creates == () and step.cancels == (twin,)


def test_plan_reports_foreign_orders_without_cancelling_them() -> None:
    desired = desired_orders(initial_state(ETH, D("2000")), ETH, WIDE_BOOK, D("0"))
    foreign = LiveOrder(None, Side.SELL, D("2500.00"), D("1"), 7, "open")
    step = plan(desired, [*live_from(desired), foreign])
    assert step.cancels == () and step.foreign == (foreign,)
    assert "1 foreign" in step.reason


def test_plan_ignores_terminal_orders_and_replaces_them() -> None:
    desired = desired_orders(initial_state(ETH, D("2000")), ETH, WIDE_BOOK, D("0"))
    live = live_from(desired, status="canceled-post-only")
    step = plan(desired, live)
    assert step.creates == desired and step.cancels == ()


def test_plan_replaces_an_order_at_the_right_level_but_a_stale_price() -> None:
    desired = desired_orders(initial_state(ETH, D("2000")), ETH, WIDE_BOOK, D("0"))
    live = live_from(desired)
    stale = replace(live[0], price=D("1990.50"))
    step = plan(desired, [stale, *live[1:]])
    assert step.cancels == (stale,) and step.creates == (desired[0],)


def test_plan_keeps_a_partially_filled_order() -> None:
    desired = desired_orders(initial_state(ETH, D("2000")), ETH, WIDE_BOOK, D("0"))
    live = live_from(desired)
    partial = replace(live[0], size_base=D("0.0040"), status="partially_filled")
    assert plan(desired, [partial, *live[1:]]).is_empty
