"""Properties of the engine under random order flow (hypothesis).

After every step: no negative sizes, positions sum to zero per market, cash (collateral +
isolated margin - entry cost) plus fees and funding residue held by the exchange is conserved,
the book is never crossed and its level sizes match its orders. Same inputs => same fills.
"""

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.simulator.config import LiquidityConfig, PricePathConfig, SimConfig
from exchange.simulator.engine import Engine
from exchange.simulator.types import SimError
from exchange.simulator.workload import Trader

NOW = 1_790_000_000_000
MARKETS = (0, 2)  # ETH (0.01 ticks, 0.0001 lots) and SOL (0.001 ticks, 0.001 lots)

orders = st.tuples(
    st.just("order"),
    st.integers(0, 2),  # trader
    st.sampled_from(MARKETS),
    st.booleans(),  # is_ask
    st.integers(-60, 60),  # price offset in basis points from the mark
    st.integers(1, 40),  # size in multiples of the minimum
    st.sampled_from(["gtt", "ioc", "post", "market", "close", "stop", "twap"]),
)
modifies = st.tuples(st.just("modify"), st.integers(0, 2), st.sampled_from(MARKETS),
                     st.integers(1, 30), st.integers(1, 40), st.integers(-60, 60))  # fmt: skip
cancels = st.tuples(st.just("cancel"), st.integers(0, 2), st.sampled_from(MARKETS),
                    st.integers(1, 12))  # fmt: skip
moves = st.tuples(st.just("price"), st.sampled_from(MARKETS), st.integers(-80, 80))
waits = st.tuples(st.just("wait"), st.sampled_from([0, 150, 300, 1_000, 20_000, 1_800_000]))
actions = st.lists(
    st.one_of(orders, orders, orders, cancels, modifies, moves, waits), min_size=8, max_size=40
)


def build() -> tuple[Engine, list[Trader]]:
    config = SimConfig(
        seed=3,
        latency_ms=None,  # real per-tier latencies: txs interleave with price steps
        liquidity=LiquidityConfig(levels=3, size_quote=Decimal(2000)),
        price_paths={0: PricePathConfig(step_ms=700, volatility=Decimal(2), seed=4)},
        verify_signatures=False,
    )
    engine = Engine(config, now_ms=NOW)
    traders = [
        Trader.open(engine, "20000"),
        Trader.open(engine, "5000", tier="premium"),
        Trader.open(engine, "800", tier="premium"),
    ]
    return engine, traders


def apply(engine: Engine, traders: list[Trader], action: tuple, coi: list[int]) -> None:
    kind = action[0]
    if kind == "order":
        _, who, market_id, is_ask, offset_bps, size, style = action
        trader = traders[who]
        spec = engine.market(market_id)
        mark = engine.mark_price(market_id)
        price = max(1, mark + mark * offset_bps // 10_000)
        options = {
            "gtt": {},
            "ioc": {"tif": 0},
            "post": {"tif": 2},
            "market": {"order_type": 1, "tif": 0},
            "close": {"order_type": 1, "tif": 0, "reduce_only": True},
            # A reduce-only stop whose trigger is the offset price, protected 5 % away.
            "stop": {"order_type": 2, "tif": 0, "reduce_only": True, "trigger_price": price},
            "twap": {"order_type": 6, "order_expiry": engine.now_ms + 90_000},
        }[style]
        if style == "stop":
            price = price * 95 // 100 if is_ask else price * 105 // 100
        coi[0] += 1
        tx = trader.create_order(
            market_id, coi[0] % 12 + 1, spec.min_base_amount * size, price, is_ask=is_ask,
            **options,
        )  # fmt: skip
        _send(trader, tx)
    elif kind == "cancel":
        _, who, market_id, index = action
        market_id, index = _pick_live(engine, traders[who], market_id, index)
        _send(traders[who], traders[who].cancel_order(market_id, index))
    elif kind == "modify":
        _, who, market_id, index, size, offset_bps = action
        market_id, index = _pick_live(engine, traders[who], market_id, index)
        spec = engine.market(market_id)
        mark = engine.mark_price(market_id)
        price = max(1, mark + mark * offset_bps // 10_000)
        tx = traders[who].modify_order(market_id, index, spec.min_base_amount * size, price)
        _send(traders[who], tx)
    elif kind == "price":
        _, market_id, move_bps = action
        units = engine.market(market_id).units
        mark = units.price(engine.mark_price(market_id))
        engine.set_reference_price(market_id, mark * (1 + Decimal(move_bps) / 10_000))
    else:
        engine.advance(engine.now_ms + action[1])


def _pick_live(engine: Engine, trader: Trader, market_id: int, index: int) -> tuple[int, int]:
    """Aim at one of the trader's live orders when it has any (else a probably-unknown one)."""
    live = engine.active_orders(trader.account_index)
    if not live:
        return market_id, index
    order = live[index % len(live)]
    return order.market_id, order.client_order_index or order.order_index


def _send(trader: Trader, tx: tuple) -> None:
    try:
        trader.send(tx)
    except SimError:
        trader.nonce -= 1  # rejected at the API: the nonce was not consumed


def check_invariants(engine: Engine, initial_cash: Decimal) -> None:
    state = engine.state
    cash = state.treasury
    for account in state.accounts.values():
        cash += account.collateral
        for pos in account.positions.values():
            assert pos.size >= 0
            assert (pos.size == 0) == (pos.sign == 0)
            cash += pos.allocated_margin - pos.sign * pos.entry_quote
    assert cash == initial_cash
    for market_id, book in state.books.items():
        total = sum(
            a.positions[market_id].signed_size
            for a in state.accounts.values()
            if market_id in a.positions
        )
        assert total == 0
        assert not book.is_crossed()
        for side in (book.asks, book.bids):
            for price, size in side.depth():
                resting = side.levels[price].values()
                assert size == sum(o.remaining_base_amount for o in resting) > 0
                assert all(o.status == "open" and o.remaining_base_amount > 0 for o in resting)
    for order in state.all_orders.values():
        assert 0 <= order.filled_base_amount
        assert order.remaining_base_amount >= 0


def total_cash(engine: Engine) -> Decimal:
    return sum((a.collateral for a in engine.state.accounts.values()), Decimal(0))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions)
def test_invariants_hold_after_every_step(steps):
    engine, traders = build()
    initial = total_cash(engine)
    coi = [0]
    for action in steps:
        apply(engine, traders, action, coi)
        engine.advance(engine.now_ms + 110)  # standard txs land within three steps
        check_invariants(engine, initial)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions)
def test_same_inputs_give_the_same_fills(steps):
    def run() -> list[tuple]:
        engine, traders = build()
        coi = [0]
        for action in steps:
            apply(engine, traders, action, coi)
            engine.advance(engine.now_ms + 110)
        engine.advance(engine.now_ms + 5_000)
        return [
            (t.trade_id, t.market_id, t.price, t.size, t.ask_account_id, t.timestamp)
            for t in engine.state.history.trades
        ]

    assert run() == run()
