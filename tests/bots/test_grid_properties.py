"""Hypothesis properties of the grid core: lattice, window, caps, replenish and roll cost.

Roll cost bounds proved here (N = levels per side, no caps in play):
* fills: after the k nearest orders of one side fill (k <= N) the plan is exactly 2k creates and
  k cancels, i.e. two creates and one cancel per step as design.md promises;
* price alone: a roll of d levels with nothing filled costs at most 2*min(|d|, N) creates and as
  many cancels (the whole window moves: d buys and d sells leave, d of each arrive).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from itertools import pairwise

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bots.strategies.grid import (
    DesiredOrder,
    GridConfig,
    GridState,
    LiveOrder,
    MarketView,
    Side,
    SizeMode,
    Spacing,
    desired_orders,
    empty_levels,
    initial_state,
    on_fill,
    on_price,
    plan,
    round_price,
    tick_from_decimals,
)
from bots.strategies.grid.strategy import GridStrategy
from bots.strategies.protocol import Decide, Filled, Leg

PROPERTY = settings(deadline=None, max_examples=150)
Scene = tuple[GridConfig, GridState, MarketView, Decimal]


@st.composite
def configs(draw: st.DrawFn, *, caps: bool = True, min_open_orders: int = 1) -> GridConfig:
    """Any valid config on a Lighter-like market (ticks and lots are powers of ten)."""
    tick = tick_from_decimals(draw(st.integers(0, 4)))
    lot = tick_from_decimals(draw(st.integers(0, 5)))
    spacing = draw(st.sampled_from(Spacing))
    if spacing is Spacing.ARITHMETIC:
        step = tick * draw(st.integers(1, 5000))
    else:
        step = draw(st.decimals("0.0005", "0.05", places=4))
    levels = draw(st.integers(1, 50))
    size_mode = draw(st.sampled_from(SizeMode))
    if size_mode is SizeMode.BASE:
        size = lot * draw(st.integers(1, 1000))
    else:
        size = draw(st.decimals("1", "10000", places=2))
    no_int: st.SearchStrategy[int | None] = st.none()
    no_cap: st.SearchStrategy[Decimal | None] = st.none()
    return GridConfig(
        spacing=spacing,
        step=step,
        levels_per_side=levels,
        size_mode=size_mode,
        size=size,
        tick_size=tick,
        lot_size=lot,
        min_base_amount=lot * draw(st.integers(0, 10)),
        min_quote_amount=Decimal(draw(st.integers(0, 20))),
        post_only=draw(st.booleans()),
        max_open_orders=draw(
            (no_int | st.integers(min_open_orders, 2 * levels + 2)) if caps else no_int
        ),
        max_position_notional=draw(
            (no_cap | st.decimals("1", "1000000", places=2)) if caps else no_cap
        ),
    )


def mids(config: GridConfig) -> st.SearchStrategy[Decimal]:
    """Mid prices with two more decimals than the tick, so they often fall between ticks."""
    exponent = config.tick_size.as_tuple().exponent
    assert isinstance(exponent, int)
    return st.decimals("1", "100000", places=2 - exponent)


@st.composite
def markets(draw: st.DrawFn, config: GridConfig, mid: Decimal) -> MarketView:
    """A book around `mid` whose sides may be empty, or anywhere within 5 % (even crossed)."""
    tick = config.tick_size
    reach = max(int(mid * Decimal("0.05") / tick), 1)
    sides = []
    for _ in range(2):
        price = round_price(mid, tick) + draw(st.integers(-reach, reach)) * tick
        sides.append(price if price > 0 and draw(st.booleans()) else None)
    return MarketView(sides[0], sides[1], mid)


def tight_market(config: GridConfig, mid: Decimal) -> MarketView:
    """The book one tick either side of the mid: no grid order can cross it."""
    near = round_price(mid, config.tick_size)
    bid = near - config.tick_size
    return MarketView(bid if bid > 0 else None, near + config.tick_size, mid)


def placed(orders: tuple[DesiredOrder, ...]) -> list[LiveOrder]:
    return [
        LiveOrder(o.level, o.side, o.price, o.size_base, index, "open")
        for index, o in enumerate(orders, start=1)
    ]


@st.composite
def scenes(draw: st.DrawFn, *, caps: bool = True, min_open_orders: int = 1) -> Scene:
    """A config, a fresh state, a book and a position."""
    config = draw(configs(caps=caps, min_open_orders=min_open_orders))
    mid = draw(mids(config))
    state = initial_state(config, mid)
    position = config.lot_size * draw(st.integers(-10_000, 10_000))
    return config, state, draw(markets(config, mid)), position


def no_collapse(config: GridConfig, state: GridState, span: int) -> bool:
    """True when every level within `span` of the centre has its own tick (no rounding merge)."""
    lattice = state.lattice(config)
    low, high = state.centre - span - 1, state.centre + span + 1
    prices = [lattice.price(k, Side.BUY) for k in range(low, high + 1)]
    return prices[0] > 0 and all(b - a > config.tick_size for a, b in pairwise(prices))


# --------------------------------------------------------------------------- shape


@PROPERTY
@given(scenes())
def test_every_order_sits_on_the_tick_and_on_its_lattice_level(scene: Scene) -> None:
    config, state, market, position = scene
    lattice = state.lattice(config)
    for order in desired_orders(state, config, market, position):
        assert order.price % config.tick_size == 0
        assert order.price == lattice.price(order.level, order.side)


@PROPERTY
@given(scenes())
def test_buys_sit_below_the_centre_and_strictly_below_every_sell(scene: Scene) -> None:
    config, state, market, position = scene
    orders = desired_orders(state, config, market, position)
    buys = [o for o in orders if o.side is Side.BUY]
    sells = [o for o in orders if o.side is Side.SELL]
    assert all(o.level < state.centre for o in buys)
    assert all(o.level > state.centre for o in sells)
    if buys and sells:
        assert max(o.price for o in buys) < min(o.price for o in sells)


@PROPERTY
@given(scenes())
def test_no_order_would_cross_the_book(scene: Scene) -> None:
    config, state, market, position = scene
    for order in desired_orders(state, config, market, position):
        if order.side is Side.BUY and market.best_ask is not None:
            assert order.price < market.best_ask
        if order.side is Side.SELL and market.best_bid is not None:
            assert order.price > market.best_bid


@PROPERTY
@given(scenes())
def test_order_count_never_exceeds_two_n_nor_max_open_orders(scene: Scene) -> None:
    config, state, market, position = scene
    orders = desired_orders(state, config, market, position)
    assert len(orders) <= 2 * config.levels_per_side
    assert config.max_open_orders is None or len(orders) <= config.max_open_orders
    assert len({(o.side, o.level) for o in orders}) == len(orders)


@PROPERTY
@given(scenes())
def test_every_size_is_whole_lots_and_meets_the_exchange_minimums(scene: Scene) -> None:
    config, state, market, position = scene
    for order in desired_orders(state, config, market, position):
        assert order.size_base % config.lot_size == 0
        assert order.size_base >= max(config.lot_size, config.min_base_amount)
        assert order.size_base * order.price >= config.min_quote_amount


@PROPERTY
@given(scenes(caps=False))
def test_an_uncapped_grid_on_a_tight_book_has_n_orders_per_side(scene: Scene) -> None:
    config, state, _, position = scene
    assume(no_collapse(config, state, config.levels_per_side))
    market = tight_market(config, state.lattice(config).raw_price(state.centre))
    orders = desired_orders(state, config, market, position)
    assert len(orders) == 2 * config.levels_per_side


# --------------------------------------------------------------------------- position cap


def _growing(position: Decimal, order: DesiredOrder) -> tuple[bool, Decimal]:
    after = position + order.side.sign * order.size_base
    return abs(after) > abs(position), after


@PROPERTY
@given(scenes())
def test_no_order_on_the_growing_side_breaks_the_position_cap(scene: Scene) -> None:
    config, state, market, position = scene
    cap = config.max_position_notional
    assume(cap is not None)
    assert cap is not None  # narrows the type; assume() already dropped uncapped configs
    for order in desired_orders(state, config, market, position):
        grows, after = _growing(position, order)
        assert not grows or abs(after) * order.price <= cap


@PROPERTY
@given(scenes())
def test_a_whole_side_filling_never_breaks_the_position_cap(scene: Scene) -> None:
    config, state, market, position = scene
    cap = config.max_position_notional
    assume(cap is not None)
    assert cap is not None  # narrows the type; assume() already dropped uncapped configs
    orders = desired_orders(state, config, market, position)
    for side in Side:
        running = position
        # Fills arrive nearest the centre first: buys from the top down, sells from the bottom up.
        for order in sorted(
            (o for o in orders if o.side is side), key=lambda o: -o.side.sign * o.price
        ):
            grows, after = _growing(running, order)
            assert not grows or abs(after) * order.price <= cap
            running = after


# --------------------------------------------------------------------------- fills and rolls


@PROPERTY
@given(scenes(caps=False), st.data())
def test_a_fill_always_leads_to_its_replenish_one_level_toward_the_centre(
    scene: Scene, data: st.DataObject
) -> None:
    config, state, _, _ = scene
    assume(no_collapse(config, state, config.levels_per_side + 1))
    lattice = state.lattice(config)
    side = data.draw(st.sampled_from(Side))
    level = state.centre - side.sign * data.draw(st.integers(1, config.levels_per_side))
    after = on_fill(state, config, side, level)
    market = tight_market(config, lattice.raw_price(level))
    orders = desired_orders(after, config, market, Decimal(0))
    replenish = (side.opposite, level + side.sign, lattice.price(level + side.sign, side.opposite))
    assert replenish in {o.key for o in orders}


@PROPERTY
@given(scenes(caps=False), st.data())
def test_k_fills_on_one_side_cost_exactly_two_k_creates_and_k_cancels(
    scene: Scene, data: st.DataObject
) -> None:
    config, state, _, _ = scene
    n = config.levels_per_side
    side = data.draw(st.sampled_from(Side))
    k = data.draw(st.integers(1, n))
    assume(no_collapse(config, state, n + k + 1))
    lattice = state.lattice(config)
    market = tight_market(config, lattice.raw_price(state.centre))
    live = placed(desired_orders(state, config, market, Decimal(0)))
    filled = {state.centre - side.sign * i for i in range(1, k + 1)}
    after = state
    for level in sorted(filled, key=lambda lv: abs(lv - state.centre)):
        after = on_fill(after, config, side, level)
    remaining = [o for o in live if o.level not in filled]
    market = tight_market(config, lattice.raw_price(after.centre))
    step = plan(desired_orders(after, config, market, Decimal(0)), remaining)
    assert (len(step.creates), len(step.cancels)) == (2 * k, k)


@PROPERTY
@given(scenes(caps=False), st.data())
def test_a_price_roll_of_d_levels_changes_at_most_four_min_d_n_orders(
    scene: Scene, data: st.DataObject
) -> None:
    config, state, _, _ = scene
    n = config.levels_per_side
    d = data.draw(st.integers(-3 * n, 3 * n))
    assume(no_collapse(config, state, n + abs(d) + 1))
    lattice = state.lattice(config)
    market = tight_market(config, lattice.raw_price(state.centre))
    live = placed(desired_orders(state, config, market, Decimal(0)))
    mid = lattice.raw_price(state.centre + d)
    rolled = on_price(state, config, mid)
    step = plan(desired_orders(rolled, config, tight_market(config, mid), Decimal(0)), live)
    assert rolled.centre == state.centre + d
    assert len(step.creates) <= 2 * min(abs(d), n)
    assert len(step.cancels) <= 2 * min(abs(d), n)


@PROPERTY
@given(scenes(), st.data())
def test_on_price_leaves_the_mid_inside_the_new_centres_band(
    scene: Scene, data: st.DataObject
) -> None:
    config, state, _, _ = scene
    mid = data.draw(mids(config))
    rolled = on_price(state, config, mid)
    lattice = rolled.lattice(config)
    assert lattice.raw_price(rolled.centre - 1) < mid < lattice.raw_price(rolled.centre + 1)
    assert on_price(rolled, config, mid) == rolled


@PROPERTY
@given(scenes(), st.data())
def test_lattice_indices_bracket_any_price(scene: Scene, data: st.DataObject) -> None:
    config, state, _, _ = scene
    price = data.draw(mids(config))
    lattice = state.lattice(config)
    floor, ceil, nearest = (
        lattice.index_floor(price),
        lattice.index_ceil(price),
        lattice.index_nearest(price),
    )
    assert lattice.raw_price(floor) <= price < lattice.raw_price(floor + 1)
    assert lattice.raw_price(ceil - 1) < price <= lattice.raw_price(ceil)
    assert nearest in (floor, floor + 1)
    other = floor + 1 if nearest == floor else floor
    assert abs(lattice.raw_price(nearest) - price) <= abs(lattice.raw_price(other) - price)


@st.composite
def books_of_orders(draw: st.DrawFn, desired: tuple[DesiredOrder, ...]) -> list[LiveOrder]:
    """Live orders: some desired ones (maybe twice), stale and terminal ones, foreign ones."""
    statuses = st.sampled_from(["open", "pending", "intent", "partially_filled", "unknown"])
    live: list[LiveOrder] = []
    for order in desired:
        for _ in range(draw(st.integers(0, 2))):
            live.append(
                LiveOrder(order.level, order.side, order.price, order.size_base, 0, draw(statuses))
            )
    for _ in range(draw(st.integers(0, 5))):
        live.append(
            LiveOrder(
                draw(st.none() | st.integers(-60, 60)),
                draw(st.sampled_from(Side)),
                draw(st.decimals("0.01", "100000", places=2)),
                Decimal(1),
                0,
                draw(statuses | st.sampled_from(["filled", "canceled", "canceled-post-only"])),
            )
        )
    order_indices = draw(st.permutations(range(len(live))))
    return [
        LiveOrder(o.level, o.side, o.price, o.size_base, i, o.status)
        for o, i in zip(live, order_indices, strict=True)
    ]


@PROPERTY
@given(scenes(), st.data())
def test_executing_a_plan_leaves_exactly_the_desired_orders(
    scene: Scene, data: st.DataObject
) -> None:
    config, state, market, position = scene
    desired = desired_orders(state, config, market, position)
    live = data.draw(books_of_orders(desired))
    step = plan(desired, live)
    cancelled = {id(o) for o in step.cancels}
    remaining = [o for o in live if o.is_active and id(o) not in cancelled and o.level is not None]
    after = [(o.side, o.level, o.price) for o in remaining] + [o.key for o in step.creates]
    assert sorted(after) == sorted(o.key for o in desired)
    assert all(o.level is None for o in step.foreign)
    assert plan(desired, [*remaining, *placed(step.creates)]).is_empty


@PROPERTY
@given(scenes(), st.data())
def test_after_on_price_every_buy_is_below_the_mid_and_every_sell_above(
    scene: Scene, data: st.DataObject
) -> None:
    config, state, _, position = scene
    mid = data.draw(mids(config))
    rolled = on_price(state, config, mid)
    for order in desired_orders(rolled, config, MarketView(None, None, mid), position):
        assert order.price < mid if order.side is Side.BUY else order.price > mid


# --------------------------------------------------------------------------- the quiet band


@st.composite
def with_risk_prices(draw: st.DrawFn, scene: Scene) -> Scene:
    """The scene's config with a stop-loss below and a take-profit above the mid, or none."""
    config, state, market, position = scene
    stop = draw(st.none() | st.decimals("0.5", "0.99", places=3).map(lambda f: market.mid * f))
    take = draw(st.none() | st.decimals("1.01", "1.5", places=3).map(lambda f: market.mid * f))
    changed = replace(config, stop_loss_price=stop, take_profit_price=take)
    return changed, state, market, position


@PROPERTY
@given(scenes().flatmap(with_risk_prices), st.data())
def test_no_book_with_its_mid_inside_the_quiet_band_changes_a_decision(
    scene: Scene, data: st.DataObject
) -> None:
    """What lets the market feed keep a runner asleep: once a grid's plan is carried out, any
    book whose mid lies in its quiet band (whatever its spread, either side may be empty) makes
    the next decision ask for nothing and leaves the state as it is."""
    config, state, market, position = scene
    leg = Leg(1, 1)
    strategy = GridStrategy(leg, config, state=state, position_base=position)
    strategy.on_event(Decide(leg, market, []))  # rolls the centre to the mid if it must
    assert strategy.state is not None
    working = placed(desired_orders(strategy.state, config, market, position))
    intents = strategy.on_event(Decide(leg, market, working))
    assume(not intents)
    band = strategy.quiet_band(market)
    assume(band is not None)
    assert band is not None
    low, high = band
    assert low < market.mid < high
    exponent = config.tick_size.as_tuple().exponent
    assert isinstance(exponent, int)
    mid = data.draw(st.decimals(max(low, Decimal(0)), high, places=4 - exponent))
    assume(low < mid < high and mid > 0)
    bid = data.draw(st.none() | st.decimals(mid * Decimal("0.95"), mid, places=4 - exponent))
    ask = data.draw(st.none() | st.decimals(mid, mid * Decimal("1.05"), places=4 - exponent))
    before = strategy.state

    assert strategy.on_event(Decide(leg, MarketView(bid, ask, mid), working)) == []
    assert strategy.state == before


@PROPERTY
@given(scenes(), st.data())
def test_after_a_fill_there_is_no_quiet_band_until_a_fresh_book(
    scene: Scene, data: st.DataObject
) -> None:
    """A fill moved the centre and the book is stale: every next book must reach the grid."""
    config, state, market, position = scene
    leg = Leg(1, 1)
    strategy = GridStrategy(leg, config, state=state, position_base=position)
    strategy.on_event(Decide(leg, market, []))
    assert strategy.state is not None
    side = data.draw(st.sampled_from(Side))
    level = strategy.state.centre - side.sign * data.draw(st.integers(1, config.levels_per_side))
    strategy.on_event(Filled(leg, side, config.lot_size, level, 1, market.mid))

    assert strategy.quiet_band(market) is None


@PROPERTY
@given(scenes().flatmap(with_risk_prices))
def test_every_level_of_the_window_is_either_wanted_or_says_why_not(scene: Scene) -> None:
    config, state, market, position = scene
    wanted = {order.level for order in desired_orders(state, config, market, position)}
    why = empty_levels(state, config, market, position)
    n = config.levels_per_side
    window = set(range(state.centre - n, state.centre + n + 1)) - {state.centre}
    assert wanted.isdisjoint(why)
    assert wanted | set(why) == window
    assert all(why.values())
