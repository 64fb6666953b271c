"""Margin and positions: PnL on reductions and flips, margin checks, isolated margin, funding."""

from decimal import Decimal

import pytest

from exchange.simulator.engine import Engine
from exchange.simulator.types import FundingApplied, SimError
from exchange.simulator.workload import Trader, quiet_config

NOW = 1_790_000_000_000
ETH = 0


@pytest.fixture
def engine() -> Engine:
    return Engine(quiet_config(), now_ms=NOW)


@pytest.fixture
def pair(engine: Engine) -> tuple[Trader, Trader]:
    return Trader.open(engine), Trader.open(engine)


def trade(taker: Trader, maker: Trader, lots: int, price: int, *, taker_buys: bool) -> None:
    """`maker` rests, `taker` crosses it at `price` for `lots`."""
    maker.run(maker.create_order(ETH, 0, lots, price, is_ask=taker_buys))
    taker.run(taker.create_order(ETH, 0, lots, price, is_ask=not taker_buys, tif=0))


def test_opening_a_position_records_entry_and_no_pnl(engine, pair):
    long, short = pair
    trade(long, short, 10000, 300000, taker_buys=True)

    pos = engine.account(long.account_index).positions[ETH]
    assert (pos.sign, pos.size) == (1, 10000)
    assert pos.avg_entry_price(engine.market(ETH).units) == Decimal(3000)
    assert pos.realized_pnl == 0
    assert engine.collateral(long.account_index) == Decimal(100000)


def test_reducing_realizes_pnl_into_collateral(engine, pair):
    long, short = pair
    trade(long, short, 10000, 300000, taker_buys=True)

    trade(long, short, 4000, 310000, taker_buys=False)  # sell 0.4 ETH 100 higher

    pos = engine.account(long.account_index).positions[ETH]
    assert pos.realized_pnl == Decimal("40")
    assert pos.size == 6000
    assert pos.avg_entry_price(engine.market(ETH).units) == Decimal(3000)
    assert engine.collateral(long.account_index) == Decimal("100040")
    assert engine.collateral(short.account_index) == Decimal("99960")


def test_flipping_realizes_the_closed_part_and_opens_at_the_fill_price(engine, pair):
    long, short = pair
    trade(long, short, 10000, 300000, taker_buys=True)

    trade(long, short, 15000, 290000, taker_buys=False)

    pos = engine.account(long.account_index).positions[ETH]
    assert (pos.sign, pos.size) == (-1, 5000)
    assert pos.realized_pnl == Decimal("-100")
    assert pos.avg_entry_price(engine.market(ETH).units) == Decimal(2900)
    assert engine.recent_trades(ETH, 1)[0].taker_position_sign_changed is True


def test_unrealized_pnl_follows_the_mark(engine, pair):
    long, short = pair
    trade(long, short, 10000, 300000, taker_buys=True)

    engine.set_reference_price(ETH, Decimal("3100"))

    assert engine.unrealized_pnl(long.account_index, ETH) == Decimal("100")
    assert engine.unrealized_pnl(short.account_index, ETH) == Decimal("-100")
    assert engine.equity(long.account_index) == Decimal("100100")


def test_available_balance_subtracts_position_and_order_margin(engine, pair):
    long, short = pair
    trade(long, short, 10000, 300000, taker_buys=True)  # 3000 notional at 5 % = 150

    long.run(long.create_order(ETH, 9, 10000, 290000, is_ask=False))  # another 150

    assert engine.available_balance(long.account_index) == Decimal("99700")


def test_orders_that_only_reduce_the_position_need_no_margin(engine, pair):
    long, short = pair
    trade(long, short, 10000, 300000, taker_buys=True)

    long.run(long.create_order(ETH, 9, 10000, 310000, is_ask=True))

    assert engine.available_balance(long.account_index) == Decimal("99850")


def test_order_beyond_margin_is_accepted_then_cancelled_margin_not_allowed(engine):
    # lighter-api.md §9.1: Lighter accepts the tx (200, nonce consumed) and the sequencer
    # cancels the order; sendTx never says 21739 for it.
    poor = Trader.open(engine, "100")
    # 1 ETH at 3000 needs 150 USDC at 20x.
    record = poor.run(poor.create_order(ETH, 1, 10000, 290000, is_ask=False))

    assert engine.next_nonce(poor.account_index, 3) == 1
    assert engine.tx(record.hash).status == 2
    assert poor.order(1).status == "canceled-margin-not-allowed"
    assert engine.active_orders(poor.account_index) == []


def test_margin_is_rechecked_at_execution(engine):
    poor = Trader.open(engine, "200")
    first = poor.send(poor.create_order(ETH, 1, 10000, 290000, is_ask=False))
    second = poor.send(poor.create_order(ETH, 2, 10000, 290000, is_ask=False))
    engine.advance(NOW)

    assert engine.tx(first.hash).status == 2
    assert poor.order(1).status == "open"
    assert poor.order(2).status == "canceled-margin-not-allowed"
    assert engine.tx(second.hash).status == 2


def test_update_leverage_changes_the_margin_requirement(engine, pair):
    long, short = pair
    long.run(long.update_leverage(ETH, 1000))  # 10x
    trade(long, short, 10000, 300000, taker_buys=True)

    assert engine.margin_requirements(long.account_index)[0] == Decimal("300")


@pytest.mark.parametrize(("imf", "mode", "code"), [(100, 0, 21113), (500, 3, 21613)])
def test_invalid_leverage_is_rejected(engine, imf, mode, code):
    trader = Trader.open(engine)
    with pytest.raises(SimError) as caught:
        trader.send(trader.update_leverage(ETH, imf, mode))
    assert caught.value.code == code


def test_leverage_change_that_breaks_initial_margin_fails(engine):
    trader, other = Trader.open(engine, "200"), Trader.open(engine)
    trade(trader, other, 10000, 300000, taker_buys=True)  # needs 150 at 20x

    record = trader.run(trader.update_leverage(ETH, 1000))  # would need 300

    assert engine.tx(record.hash).status == 0
    assert engine.account(trader.account_index).positions[ETH].initial_margin_fraction == 500


def test_margin_mode_cannot_change_with_an_open_position(engine, pair):
    long, short = pair
    trade(long, short, 10000, 300000, taker_buys=True)

    record = long.run(long.update_leverage(ETH, 500, 1))

    assert engine.tx(record.hash).status == 0


def test_isolated_position_locks_margin_and_accepts_more(engine, pair):
    long, short = pair
    long.run(long.update_leverage(ETH, 500, 1))
    trade(long, short, 10000, 300000, taker_buys=True)

    pos = engine.account(long.account_index).positions[ETH]
    assert pos.allocated_margin == Decimal("150")
    assert engine.collateral(long.account_index) == Decimal("99850")

    long.run(long.update_margin(ETH, 50_000_000, 1))
    assert pos.allocated_margin == Decimal("200")
    assert engine.equity(long.account_index) == Decimal("100000")


def test_removing_isolated_margin_below_initial_fails(engine, pair):
    long, short = pair
    long.run(long.update_leverage(ETH, 500, 1))
    trade(long, short, 10000, 300000, taker_buys=True)

    record = long.run(long.update_margin(ETH, 10_000_000, 0))

    assert engine.tx(record.hash).status == 0


def test_closing_an_isolated_position_returns_its_margin(engine, pair):
    long, short = pair
    long.run(long.update_leverage(ETH, 500, 1))
    trade(long, short, 10000, 300000, taker_buys=True)

    trade(long, short, 10000, 300000, taker_buys=False)

    pos = engine.account(long.account_index).positions[ETH]
    assert pos.allocated_margin == 0
    assert engine.collateral(long.account_index) == Decimal(100000)


def test_update_margin_on_a_cross_position_fails(engine):
    trader = Trader.open(engine)
    record = trader.run(trader.update_margin(ETH, 1_000_000, 1))
    assert engine.tx(record.hash).status == 0


def test_liquidation_price_of_a_lone_long(engine):
    long, short = Trader.open(engine, "1000"), Trader.open(engine)
    trade(long, short, 10000, 300000, taker_buys=True)

    # equity(P) = 1000 + (P - 3000) = maintenance(P) = 0.012 P  ->  P = 2000 / 0.988
    expected = Decimal(2000) / Decimal("0.988")
    assert abs(engine.liquidation_price(long.account_index, ETH) - expected) < Decimal("0.0001")


def test_account_below_maintenance_cannot_add_risk():
    engine = Engine(quiet_config(liquidations_enabled=False), now_ms=NOW)
    long, short = Trader.open(engine, "100"), Trader.open(engine)
    trade(long, short, 5000, 300000, taker_buys=True)
    engine.set_reference_price(ETH, Decimal("2810"))  # loses 95 of 100

    with pytest.raises(SimError) as caught:
        long.send(long.create_order(ETH, 1, 50, 281000, is_ask=False))
    assert caught.value.code == 21507


def test_hourly_funding_moves_collateral_from_longs_to_shorts():
    engine = Engine(quiet_config(funding_enabled=True), now_ms=NOW)
    long, short = Trader.open(engine), Trader.open(engine)
    trade(long, short, 10000, 300000, taker_buys=True)
    # A rich book (mid above index) gives a positive premium: longs pay.
    quoter = Trader.open(engine)
    quoter.run(quoter.create_order(ETH, 1, 100, 303000, is_ask=False))
    quoter.run(quoter.create_order(ETH, 2, 100, 303200, is_ask=True))
    next_hour = (NOW // 3_600_000 + 1) * 3_600_000

    events = engine.advance(next_hour)

    funding = [e for e in events if isinstance(e, FundingApplied) and e.market_id == ETH]
    assert funding and funding[0].record.direction == "long"
    assert funding[0].record.rate == Decimal("0.005")  # premium 1 % clamped to 0.5 %
    assert engine.collateral(long.account_index) == Decimal("99985")
    assert engine.collateral(short.account_index) == Decimal("100015")
    rows, _ = engine.position_fundings(long.account_index)
    assert rows[0].change == Decimal("-15")
    assert rows[0].position_side == "long"


def test_account_below_maintenance_is_liquidated_into_the_insurance_fund(engine):
    long, short = Trader.open(engine, "100"), Trader.open(engine)
    trade(long, short, 5000, 300000, taker_buys=True)
    long.run(long.create_order(ETH, 1, 50, 290000, is_ask=False))

    engine.set_reference_price(ETH, Decimal("2810"))

    assert long.position(ETH) == 0
    assert long.order(1).status == "canceled-liquidation"
    liquidation = engine.recent_trades(ETH, 1)[0]
    assert (liquidation.type, liquidation.price, liquidation.size) == ("liquidation", 281000, 5000)
    assert engine.collateral(long.account_index) == Decimal("5")  # 100 - 95 loss
    assert engine.state.accounts[liquidation.bid_account_id].positions[ETH].signed_size == 5000


def test_healthy_account_is_not_liquidated(engine):
    long, short = Trader.open(engine, "1000"), Trader.open(engine)
    trade(long, short, 5000, 300000, taker_buys=True)

    engine.set_reference_price(ETH, Decimal("2810"))

    assert long.position(ETH) == 5000


def test_isolated_position_is_liquidated_alone(engine):
    trader, other = Trader.open(engine, "1000"), Trader.open(engine)
    trader.run(trader.update_leverage(ETH, 500, 1))
    trade(trader, other, 10000, 300000, taker_buys=True)  # locks 150

    engine.set_reference_price(ETH, Decimal("2860"))  # loses 140 of the 150 locked

    assert trader.position(ETH) == 0
    assert engine.collateral(trader.account_index) == Decimal("860")


def test_funding_rate_is_the_mean_of_minute_premium_samples():
    engine = Engine(quiet_config(funding_enabled=True), now_ms=NOW)
    long, short = Trader.open(engine), Trader.open(engine)
    trade(long, short, 10000, 300000, taker_buys=True)
    quoter = Trader.open(engine)
    quoter.run(quoter.create_order(ETH, 1, 100, 300500, is_ask=False))
    quoter.run(quoter.create_order(ETH, 2, 100, 300700, is_ask=True))  # mid +0.2 %
    next_hour = (NOW // 3_600_000 + 1) * 3_600_000
    switch = next_hour - 20 * 60_000 + 1  # the last 20 samples see the richer book
    engine.advance(switch)
    quoter.run(quoter.modify_order(ETH, 2, 100, 301300))  # mid +0.3 %
    samples_before = (switch - 1) // 60_000 - NOW // 60_000

    events = engine.advance(next_hour)

    funding = next(e for e in events if isinstance(e, FundingApplied) and e.market_id == ETH)
    expected = (samples_before * Decimal("0.002") + 20 * Decimal("0.003")) / (samples_before + 20)
    assert funding.record.rate == expected.quantize(Decimal("0.00000001"), rounding="ROUND_FLOOR")


def test_isolated_positions_pay_funding_from_their_margin():
    engine = Engine(quiet_config(funding_enabled=True), now_ms=NOW)
    long, short = Trader.open(engine), Trader.open(engine)
    long.run(long.update_leverage(ETH, 500, 1))
    trade(long, short, 10000, 300000, taker_buys=True)  # locks 150
    quoter = Trader.open(engine)
    quoter.run(quoter.create_order(ETH, 1, 100, 303000, is_ask=False))
    quoter.run(quoter.create_order(ETH, 2, 100, 303200, is_ask=True))

    engine.advance((NOW // 3_600_000 + 1) * 3_600_000)

    pos = engine.account(long.account_index).positions[ETH]
    assert pos.allocated_margin == Decimal("135")  # paid 0.5 % of 3000
    assert engine.collateral(long.account_index) == Decimal("99850")
