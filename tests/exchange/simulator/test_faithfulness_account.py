"""Faithfulness: positions, margin, PnL and funding as the SDK's AccountApi reports them, driven
only through the unmodified SDK as a mainnet bot would. Each test names its evidence."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import lighter
import pytest
from lighter import SignerClient

from tests.exchange.simulator.sdk_reads import ETH, GTT, LIMIT, account_detail, best
from tests.plugins.simulator import (
    TEST_CONFIG,
    RunningSimulator,
    api_client,
    run_simulator,
    signer_client,
)

HOUR_MS = 3_600_000
CROSS, ISOLATED = SignerClient.CROSS_MARGIN_MODE, SignerClient.ISOLATED_MARGIN_MODE


def _eth(detail) -> lighter.AccountPosition:
    (row,) = [p for p in detail.positions if p.market_id == ETH]
    return row


async def test_position_reports_entry_value_and_unrealized_pnl_at_the_mark(simulator, trader):
    # lighter-api.md §2.3 (AccountPosition: sign, position, avg_entry_price, position_value,
    # unrealized_pnl as decimal strings); SDK models/account_position.py.
    client, api, account = trader
    ask, _ = await best(api)
    await client.create_market_order(ETH, 1, 2000, ask + 1000, False)
    opened = _eth(await account_detail(api, account))
    entry = Decimal(opened.avg_entry_price)
    assert (opened.sign, opened.position) == (1, "0.2000")

    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "3100.00"})
    moved = _eth(await account_detail(api, account))
    assert Decimal(moved.position_value) == Decimal("0.2") * Decimal("3100.00")
    assert Decimal(moved.unrealized_pnl) == Decimal("0.2") * (Decimal("3100.00") - entry)


async def test_closing_realizes_pnl_into_collateral_and_the_pnl_endpoint(simulator, trader):
    # lighter-api.md §2.3 (realized_pnl, collateral); SDK AccountApi.pnl (trade_pnl).
    client, api, account = trader
    ask, _ = await best(api)
    await client.create_market_order(ETH, 1, 1000, ask + 1000, False)
    entry = Decimal(_eth(await account_detail(api, account)).avg_entry_price)
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "3100.00"})
    _, bid = await best(api)
    await client.create_market_order(ETH, 2, 1000, bid - 1000, True)

    detail = await account_detail(api, account)
    realized = Decimal(_eth(detail).realized_pnl)
    exit_price = Decimal(bid) / 100  # the agent's best bid, one level
    assert realized == (exit_price - entry) * Decimal("0.1") > 0
    assert Decimal(detail.collateral) == Decimal("100000") + realized  # standard tier: no fees
    now_ms = simulator.sim("GET", "/sim/clock")["now_ms"]
    pnl = await lighter.AccountApi(api).pnl(
        by="index", value=str(account.index), resolution="1h",
        start_timestamp=now_ms - HOUR_MS, end_timestamp=now_ms, count_back=1,
    )  # fmt: skip
    assert Decimal(str(pnl.pnl[-1].trade_pnl)) == realized


async def test_leverage_sets_the_initial_margin_a_position_and_orders_use(trader):
    # lighter-api.md §3.8 (UpdateLeverage: fraction = 10000 / leverage), §8.1 (IMF); SDK
    # update_leverage(market, margin_mode, leverage).
    client, api, account = trader
    _, reply, err = await client.update_leverage(ETH, CROSS, 5)
    assert err is None and reply.code == 200
    _, bid = await best(api)
    await client.create_order(ETH, 3, 10000, bid - 10000, False, LIMIT, GTT)  # 1 ETH resting
    detail = await account_detail(api, account)
    assert _eth(detail).initial_margin_fraction == "20.00"
    # 1 ETH of open buy order reserves a fifth of its notional at the mark (flat at 3000).
    reserved = Decimal(detail.collateral) - Decimal(detail.available_balance)
    assert reserved == Decimal("3000") / 5


async def test_isolated_position_holds_its_own_margin_and_accepts_more(trader):
    # lighter-api.md §3.8 (MarginMode 1 isolated; UpdateMargin adds USDC, Direction 1); SDK
    # update_leverage(..., ISOLATED_MARGIN_MODE, ...), update_margin.
    client, api, account = trader
    await client.update_leverage(ETH, ISOLATED, 10)
    ask, _ = await best(api)
    await client.create_market_order(ETH, 4, 1000, ask + 1000, False)
    before = _eth(await account_detail(api, account))
    assert before.margin_mode == ISOLATED and Decimal(before.allocated_margin) > 0
    _, reply, err = await client.update_margin(ETH, 10.5, 1)
    assert err is None and reply.code == 200
    after = _eth(await account_detail(api, account))
    assert Decimal(after.allocated_margin) == Decimal(before.allocated_margin) + Decimal("10.5")


@pytest.fixture
def funding_simulator() -> Iterator[RunningSimulator]:
    """The test simulator with hourly funding on."""
    yield from run_simulator({**TEST_CONFIG, "funding_enabled": True})


async def test_hourly_funding_is_paid_by_longs_when_the_book_trades_above_the_index(
    funding_simulator,
):
    # lighter-api.md §8.3 (paid every hour on the hour, peer to peer; positive rate: longs pay);
    # SDK AccountApi.position_funding (PositionFunding.change, rate, position_side).
    sim = funding_simulator
    long, bidder = sim.create_account(), sim.create_account()
    long_client, bid_client = signer_client(sim, long), signer_client(sim, bidder)
    api = api_client(sim)
    ask, _ = await best(api)
    await long_client.create_market_order(ETH, 1, 1000, ask + 1000, False)
    # A bid just under the ask lifts the book's mid above the index: a positive premium.
    await bid_client.create_order(ETH, 1, 1000, ask - 1, False, LIMIT, GTT)
    collateral = Decimal((await account_detail(api, long)).collateral)
    now_ms = sim.sim("GET", "/sim/clock")["now_ms"]
    sim.advance((now_ms // HOUR_MS + 1) * HOUR_MS - now_ms)

    rows = await lighter.AccountApi(api).position_funding(account_index=long.index, limit=10)
    (paid,) = rows.position_fundings
    assert (paid.market_id, paid.position_side, paid.position_size) == (ETH, "long", "0.1000")
    assert Decimal(paid.change) < 0 and Decimal(paid.rate) > 0
    after = Decimal((await account_detail(api, long)).collateral)
    assert after == collateral + Decimal(paid.change)
    for closable in (long_client, bid_client, api):
        await closable.close()
