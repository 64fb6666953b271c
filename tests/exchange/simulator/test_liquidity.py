"""The liquidity agent: a ladder around the reference price that fills resting orders when the
price moves through them."""

from decimal import Decimal

import pytest

from exchange.simulator.config import LiquidityConfig
from exchange.simulator.engine import Engine
from exchange.simulator.types import SimError
from exchange.simulator.workload import Trader, quiet_config

NOW = 1_790_000_000_000
ETH = 0


@pytest.fixture
def engine() -> Engine:
    liquidity = LiquidityConfig(levels=5, step_bps=10, first_offset_bps=5, size_quote=Decimal(3000))
    return Engine(quiet_config(liquidity=liquidity), now_ms=NOW)


def test_agent_quotes_a_symmetric_ladder_around_the_reference(engine):
    asks, bids = engine.book_levels(ETH)

    assert [p for p, _ in asks] == [300150, 300450, 300750, 301050, 301350]
    assert [p for p, _ in bids] == [299850, 299550, 299250, 298950, 298650]
    units = engine.market(ETH).units
    notionals = [units.quote(size, price) for price, size in asks + bids]
    # Each level is worth size_quote, rounded down to a whole lot (0.0001 ETH ~ 0.30 USDC).
    assert all(Decimal("2999.69") < n <= Decimal(3000) for n in notionals)


def test_agent_requotes_when_the_reference_moves(engine):
    engine.set_reference_price(ETH, Decimal("3100"))

    asks, bids = engine.book_levels(ETH)
    assert asks[0][0] == 310155
    assert bids[0][0] == 309845
    assert len(asks) == len(bids) == 5


def test_resting_ask_fills_when_the_price_rises_through_it(engine):
    trader = Trader.open(engine)
    trader.run(trader.create_order(ETH, 1, 5000, 301000, is_ask=True))

    engine.set_reference_price(ETH, Decimal("3020"))

    order = trader.order(1)
    assert order.status == "filled"
    assert trader.position(ETH) == -5000
    trade = engine.recent_trades(ETH, 1)[0]
    assert trade.price == 301000
    assert trade.is_maker_ask is True


def test_resting_bid_does_not_fill_while_the_price_stays_above_it(engine):
    trader = Trader.open(engine)
    trader.run(trader.create_order(ETH, 1, 5000, 298000, is_ask=False))

    engine.set_reference_price(ETH, Decimal("2995"))

    assert trader.order(1).status == "open"


def test_agent_account_is_hidden_from_account_reads(engine):
    agent_index = engine.liquidity.account.index
    with pytest.raises(SimError, match="account not found"):
        engine.account(agent_index)


def test_market_buy_fills_against_the_agent(engine):
    trader = Trader.open(engine)
    trader.run(trader.create_order(ETH, 1, 20000, 301000, is_ask=False, order_type=1, tif=0))

    assert trader.order(1).status == "filled"
    assert trader.position(ETH) == 20000
