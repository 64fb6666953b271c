"""Matching: each order type / time in force / outcome, self-trade modes, priority and fees."""

from decimal import Decimal

import pytest

from exchange.simulator.engine import Engine
from exchange.simulator.types import TradeExecuted
from exchange.simulator.workload import Trader, quiet_config

NOW = 1_790_000_000_000
ETH = 0  # size 4 decimals (lots of 0.0001), price 2 decimals (ticks of 0.01); mark 3000.00


@pytest.fixture
def engine() -> Engine:
    return Engine(quiet_config(), now_ms=NOW)


@pytest.fixture
def maker(engine: Engine) -> Trader:
    """Rests asks 1 ETH @ 3001.00 and 1 ETH @ 3002.00, bids 1 ETH @ 2999.00 and 2998.00."""
    trader = Trader.open(engine)
    for coi, price, is_ask in ((1, 300100, True), (2, 300200, True), (3, 299900, False),
                               (4, 299800, False)):  # fmt: skip
        trader.run(trader.create_order(ETH, coi, 10000, price, is_ask=is_ask))
    return trader


@pytest.fixture
def taker(engine: Engine) -> Trader:
    return Trader.open(engine)


# (name, order kwargs, expected status, expected filled lots, expected position after)
ROWS = [
    ("gtt buy below the ask rests", dict(base=5000, price=300000, is_ask=False), "open", 0),
    ("gtt buy through one level fills then rests",
     dict(base=15000, price=300150, is_ask=False), "open", 10000),
    ("gtt buy through both levels fills fully",
     dict(base=20000, price=300200, is_ask=False), "filled", 20000),
    ("ioc buy through one level cancels the rest",
     dict(base=15000, price=300150, is_ask=False, tif=0), "canceled", 10000),
    ("ioc buy below the ask cancels unfilled",
     dict(base=5000, price=300000, is_ask=False, tif=0), "canceled", 0),
    ("post-only buy that would cross is cancelled",
     dict(base=5000, price=300100, is_ask=False, tif=2), "canceled-post-only", 0),
    ("post-only buy below the ask rests",
     dict(base=5000, price=300050, is_ask=False, tif=2), "open", 0),
    ("market buy within protection fills",
     dict(base=15000, price=300500, is_ask=False, order_type=1, tif=0), "filled", 15000),
    ("market buy below the best ask does not fill",
     dict(base=30000, price=300050, is_ask=False, order_type=1, tif=0),
     "canceled-too-much-slippage", 0),
    # Protection bounds the average price: 10000 @ 3001.00, then 6666 @ 3002.00 (avg 3001.3999).
    ("market buy stops where its average would pass protection",
     dict(base=30000, price=300140, is_ask=False, order_type=1, tif=0),
     "canceled-too-much-slippage", 16666),
    ("market sell stops where its average would pass protection",
     dict(base=30000, price=299860, is_ask=True, order_type=1, tif=0),
     "canceled-too-much-slippage", 16666),
    ("market buy larger than the book runs out of liquidity",
     dict(base=30000, price=310000, is_ask=False, order_type=1, tif=0),
     "canceled-not-enough-liquidity", 20000),
    ("market sell fills at the best bid",
     dict(base=5000, price=299000, is_ask=True, order_type=1, tif=0), "filled", 5000),
    ("gtt sell through the bids fills at bid prices",
     dict(base=20000, price=299800, is_ask=True), "filled", 20000),
    ("reduce-only sell without a position is cancelled",
     dict(base=5000, price=299000, is_ask=True, order_type=1, tif=0, reduce_only=True),
     "canceled-reduce-only", 0),
]  # fmt: skip


@pytest.mark.parametrize(("name", "spec", "status", "filled"), ROWS, ids=[r[0] for r in ROWS])
def test_order_outcome_table(engine, maker, taker, name, spec, status, filled):
    spec = dict(spec)
    base, price, is_ask = spec.pop("base"), spec.pop("price"), spec.pop("is_ask")
    record = taker.run(taker.create_order(ETH, 77, base, price, is_ask=is_ask, **spec))

    order = taker.order(77)
    assert engine.tx(record.hash).status == 2
    assert order.status == status
    assert order.filled_base_amount == filled
    assert taker.position(ETH) == (-filled if is_ask else filled)
    assert maker.position(ETH) == -taker.position(ETH)
    assert not engine.state.books[ETH].is_crossed()


@pytest.mark.parametrize("is_ask", [False, True])
def test_market_protection_bounds_the_average_price_not_each_level(engine, maker, taker, is_ask):
    # lighter-api.md §4.2 ("bounds the average execution price"); the SDK's
    # create_market_order_limited_slippage / get_potential_execution_price reason in averages.
    protection = 299860 if is_ask else 300140
    taker.run(taker.create_order(ETH, 77, 30000, protection, is_ask=is_ask, order_type=1, tif=0))

    order = taker.order(77)
    filled = order.filled_base_amount
    average_ticks = order.filled_quote_amount * 100 / (Decimal(filled) / 10000)
    one_more = (order.filled_quote_amount + Decimal("0.0001") * (2998 if is_ask else 3002)) * 100
    one_more_average = one_more / (Decimal(filled + 1) / 10000)
    if is_ask:
        assert average_ticks >= protection > one_more_average
    else:
        assert average_ticks <= protection < one_more_average
    assert len({t.price for t in engine.recent_trades(ETH, 10)}) == 2  # two levels traded


def test_fills_happen_at_the_maker_price(engine, maker, taker):
    taker.run(taker.create_order(ETH, 5, 10000, 300500, is_ask=False))

    trade = engine.recent_trades(ETH, 1)[0]
    assert trade.price == 300100
    assert trade.is_maker_ask is True
    assert trade.usd_amount == Decimal("3001.000000")
    assert trade.bid_account_id == taker.account_index


def test_equal_prices_fill_in_time_priority(engine, taker):
    first, second = Trader.open(engine), Trader.open(engine)
    first.run(first.create_order(ETH, 1, 10000, 300100, is_ask=True))
    second.run(second.create_order(ETH, 1, 10000, 300100, is_ask=True))

    taker.run(taker.create_order(ETH, 9, 10000, 300100, is_ask=False))

    assert first.order(1).status == "filled"
    assert second.order(1).status == "open"


def test_better_price_fills_before_earlier_order(engine, taker):
    early, better = Trader.open(engine), Trader.open(engine)
    early.run(early.create_order(ETH, 1, 10000, 300200, is_ask=True))
    better.run(better.create_order(ETH, 1, 10000, 300100, is_ask=True))

    taker.run(taker.create_order(ETH, 9, 10000, 300200, is_ask=False))

    assert better.order(1).status == "filled"
    assert early.order(1).status == "open"


def test_reduce_only_order_is_trimmed_to_the_position(engine, maker, taker):
    taker.run(taker.create_order(ETH, 1, 5000, 300100, is_ask=False))

    taker.run(
        taker.create_order(ETH, 2, 9000, 299000, is_ask=True, order_type=1, tif=0,
                           reduce_only=True)
    )  # fmt: skip

    assert taker.order(2).filled_base_amount == 5000
    assert taker.order(2).status == "filled"
    assert taker.position(ETH) == 0


def test_reduce_only_with_zero_base_closes_the_whole_position(engine, maker, taker):
    taker.run(taker.create_order(ETH, 1, 7000, 300100, is_ask=False))

    taker.run(
        taker.create_order(ETH, 2, 0, 299000, is_ask=True, order_type=1, tif=0, reduce_only=True)
    )

    assert taker.position(ETH) == 0


SELF_TRADE_ROWS = [
    # mode, maker status, taker status, taker filled
    (0, "canceled-self-trade", "open", 0),
    (1, "open", "canceled-self-trade", 0),
    (2, "canceled-self-trade", "canceled-self-trade", 0),
    (3, "canceled-self-trade", "canceled-self-trade", 0),
]


@pytest.mark.parametrize(("mode", "maker_status", "taker_status", "filled"), SELF_TRADE_ROWS)
def test_self_trade_modes(engine, mode, maker_status, taker_status, filled):
    trader = Trader.open(engine)
    trader.run(trader.create_order(ETH, 1, 10000, 300100, is_ask=True))

    attrs = {"6": mode} if mode else None
    trader.run(trader.create_order(ETH, 2, 10000, 300100, is_ask=False, attrs=attrs))

    assert trader.order(1).status == maker_status
    assert trader.order(2).status == taker_status
    assert trader.order(2).filled_base_amount == filled
    assert engine.recent_trades(ETH, 10) == []


def test_self_trade_expire_maker_lets_the_taker_reach_other_makers(engine):
    trader, other = Trader.open(engine), Trader.open(engine)
    trader.run(trader.create_order(ETH, 1, 10000, 300100, is_ask=True))
    other.run(other.create_order(ETH, 1, 10000, 300200, is_ask=True))

    trader.run(trader.create_order(ETH, 2, 10000, 300200, is_ask=False))

    assert trader.order(1).status == "canceled-self-trade"
    assert trader.order(2).status == "filled"
    assert other.order(1).status == "filled"


def test_self_trade_reduce_shrinks_both_by_the_overlap(engine):
    trader = Trader.open(engine)
    trader.run(trader.create_order(ETH, 1, 10000, 300100, is_ask=True))

    trader.run(trader.create_order(ETH, 2, 4000, 300100, is_ask=False, attrs={"6": 3}))

    assert trader.order(1).status == "open"
    assert trader.order(1).remaining_base_amount == 6000
    assert engine.book_levels(ETH)[0] == [(300100, 6000)]


def test_premium_fees_are_charged_in_ppm_to_each_side(engine):
    maker = Trader.open(engine, tier="premium")
    taker = Trader.open(engine, tier="premium")
    maker.run(maker.create_order(ETH, 1, 10000, 300000, is_ask=True))

    taker.run(taker.create_order(ETH, 1, 10000, 300000, is_ask=False))

    trade = engine.recent_trades(ETH, 1)[0]
    # 3000 USDC notional: taker 280 ppm = 0.84, maker 40 ppm = 0.12.
    assert (trade.taker_fee_ppm, trade.maker_fee_ppm) == (280, 40)
    assert trade.taker_fee == Decimal("0.84")
    assert trade.maker_fee == Decimal("0.12")
    assert engine.collateral(taker.account_index) == Decimal("100000") - Decimal("0.84")
    assert engine.collateral(maker.account_index) == Decimal("100000") - Decimal("0.12")
    assert engine.treasury == Decimal("0.96")


def test_standard_accounts_pay_no_fees(engine, maker, taker):
    taker.run(taker.create_order(ETH, 1, 10000, 300100, is_ask=False))

    trade = engine.recent_trades(ETH, 1)[0]
    assert (trade.taker_fee, trade.maker_fee) == (0, 0)
    assert engine.treasury == 0


def test_trade_event_is_emitted_with_position_before_fields(engine, maker, taker):
    record = taker.send(taker.create_order(ETH, 1, 10000, 300100, is_ask=False))
    events = engine.advance(engine.now_ms)

    trades = [e.trade for e in events if isinstance(e, TradeExecuted)]
    assert len(trades) == 1
    assert trades[0].tx_hash == record.hash
    assert trades[0].taker_position_size_before == 0
    assert trades[0].maker_position_size_before == 0


def test_resting_reduce_only_order_is_cancelled_once_the_position_is_gone(engine, maker, taker):
    taker.run(taker.create_order(ETH, 1, 5000, 300100, is_ask=False, tif=0))  # long 0.5
    taker.run(taker.create_order(ETH, 2, 5000, 310000, is_ask=True, reduce_only=True))
    taker.run(taker.create_order(ETH, 3, 5000, 299900, is_ask=True, tif=0))  # flat again
    buyer = Trader.open(engine)

    # Sweeps the maker's 1.5 ETH left at 3001/3002, then reaches the reduce-only ask at 3100.
    buyer.run(buyer.create_order(ETH, 1, 20000, 310000, is_ask=False, tif=0))

    assert buyer.order(1).filled_base_amount == 15000
    assert taker.order(2).status == "canceled-reduce-only"
    assert taker.position(ETH) == 0
