"""History reads: trades paging, candles, inactive orders, market stats."""

from decimal import Decimal

import pytest

from exchange.simulator.engine import Engine
from exchange.simulator.types import SimError
from exchange.simulator.workload import Trader, quiet_config

NOW = 1_790_000_020_000  # 40 s into a minute
ETH = 0


@pytest.fixture
def engine() -> Engine:
    return Engine(quiet_config(), now_ms=NOW)


@pytest.fixture
def traded(engine: Engine) -> tuple[Trader, Trader]:
    """Five trades at 3000, 3010, 2990, 3020 (next minute) and 3005 (two minutes later)."""
    maker, taker = Trader.open(engine), Trader.open(engine)
    for offset, price in ((0, 300000), (1000, 301000), (2000, 299000), (30_000, 302000),
                          (90_000, 300500)):  # fmt: skip
        engine.advance(NOW + offset)
        maker.run(maker.create_order(ETH, 0, 1000, price, is_ask=True))
        taker.run(taker.create_order(ETH, 0, 1000, price, is_ask=False, tif=0))
    return maker, taker


def test_candles_bucket_trades_by_resolution(engine, traded):
    candles = engine.candles(ETH, "1m", NOW - 60_000, NOW + 200_000, 10)

    assert [c.t for c in candles] == [NOW - 40_000 + m * 60_000 for m in (0, 1, 2)]
    first = candles[0]
    assert (first.o, first.h, first.l, first.c) == (300000, 301000, 299000, 299000)
    assert first.v == Decimal("0.3")
    assert first.quote_volume == Decimal("900")
    assert (candles[1].o, candles[1].v) == (302000, Decimal("0.1"))
    assert candles[-1].last_trade_id == 5


def test_candles_count_back_keeps_the_latest(engine, traded):
    candles = engine.candles(ETH, "1m", NOW - 60_000, NOW + 200_000, 1)
    assert [c.c for c in candles] == [300500]


@pytest.mark.parametrize(("resolution", "start", "end", "code"),
                         [("2m", 0, 1, 22402), ("1m", 5, 5, 22400)])  # fmt: skip
def test_bad_candle_requests_are_rejected(engine, resolution, start, end, code):
    with pytest.raises(SimError) as caught:
        engine.candles(ETH, resolution, start, end, 10)
    assert caught.value.code == code


def test_trades_page_newest_first_with_a_cursor(engine, traded):
    page, cursor = engine.trades(market_id=ETH, limit=2)
    assert [t.trade_id for t in page] == [5, 4]

    page, cursor = engine.trades(market_id=ETH, limit=2, cursor=cursor)
    assert [t.trade_id for t in page] == [3, 2]

    page, cursor = engine.trades(market_id=ETH, limit=2, cursor=cursor)
    assert [t.trade_id for t in page] == [1]
    assert cursor is None


def test_trades_filter_by_account_and_order(engine, traded):
    maker, _ = traded
    page, _ = engine.trades(account_index=maker.account_index, limit=100, sort_dir="asc")
    assert [t.trade_id for t in page] == [1, 2, 3, 4, 5]

    ask_id = page[0].ask_id
    page, _ = engine.trades(order_index=ask_id, limit=100)
    assert [t.trade_id for t in page] == [1]


def test_inactive_orders_page_newest_first(engine, traded):
    _, taker = traded
    page, cursor = engine.inactive_orders(taker.account_index, limit=3)
    assert len(page) == 3
    assert page[0].created_at > page[-1].created_at

    rest, cursor = engine.inactive_orders(taker.account_index, limit=3, cursor=cursor)
    assert len(rest) == 2
    assert cursor is None


def test_market_stats_cover_the_last_day(engine, traded):
    stats = engine.market_stats(ETH)

    assert stats.daily_trades_count == 5
    assert stats.last_trade_price == 300500
    assert (stats.daily_price_high, stats.daily_price_low) == (302000, 299000)
    assert stats.daily_base_volume == Decimal("0.5")
    assert stats.open_interest == Decimal("0.5")
    assert round(stats.daily_price_change_pct, 6) == Decimal("0.166667")  # 3000 -> 3005


def test_accounts_by_l1_lists_the_master_first(engine):
    second = engine.add_account("0xAA", Decimal(1), index=20)
    first = engine.add_account("0xaa", Decimal(1), index=10)

    assert engine.accounts_by_l1("0xAa") == [first, second]
    with pytest.raises(SimError):
        engine.accounts_by_l1("0xbb")


def test_orders_by_client_index_finds_live_and_finished(engine):
    trader = Trader.open(engine)
    trader.run(trader.create_order(ETH, 1, 1000, 290000, is_ask=False))
    trader.run(trader.create_order(ETH, 2, 1000, 290000, is_ask=False))
    trader.run(trader.cancel_order(ETH, 2))

    found = engine.orders_by_client_index(trader.account_index, [2, 1, 3])

    assert [(o.client_order_index, o.status) for o in found] == [(2, "canceled"), (1, "open")]
