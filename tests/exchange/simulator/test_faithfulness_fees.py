"""Faithfulness: fees, driven only through the unmodified SDK as a mainnet bot would.

Evidence: lighter-api.md §8.2 (standard 0 %; premium 0.0040 % maker / 0.0280 % taker; trade
payloads carry `maker_fee`/`taker_fee` rates in 1e-6; fee ticks in `accountLimits`);
lighter-go `FeeTick = 1_000_000`; SDK `lighter/models/trade.py` (`taker_fee`, `maker_fee`),
`lighter/api/account_api.py` `account_limits`.
"""

from __future__ import annotations

from decimal import Decimal

import lighter
import pytest

from tests.plugins.simulator import api_client, auth_token, signer_client

ETH = 0
MARKET, IOC = lighter.SignerClient.ORDER_TYPE_MARKET, 0


@pytest.mark.parametrize(("tier", "ticks"), [("standard", (0, 0)), ("premium", (40, 280))])
async def test_account_limits_report_the_tiers_fee_ticks(simulator, tier, ticks):
    account = simulator.create_account(tier=tier)
    client, api = signer_client(simulator, account), api_client(simulator)
    limits = await lighter.AccountApi(api).account_limits(
        account_index=account.index, authorization=auth_token(client, account)
    )
    await client.close()
    await api.close()
    assert limits.user_tier == tier
    assert (limits.current_maker_fee_tick, limits.current_taker_fee_tick) == ticks


@pytest.mark.parametrize(("tier", "rate"), [("standard", 0), ("premium", 280)])
async def test_taker_fee_is_in_the_trade_and_comes_out_of_collateral(simulator, tier, rate):
    account = simulator.create_account("100000", tier=tier)
    client, api = signer_client(simulator, account), api_client(simulator)
    _, reply, err = await client.create_market_order(ETH, 1, 1000, 310000, False)
    assert err is None and reply.code == 200
    trades = await lighter.OrderApi(api).trades(
        sort_by="timestamp", limit=10, account_index=account.index
    )
    (trade,) = trades.trades
    venue = (await lighter.AccountApi(api).account(by="index", value=str(account.index))).accounts
    await client.close()
    await api.close()

    quote = Decimal(trade.usd_amount)
    fee = (quote * rate / Decimal(1_000_000)).quantize(
        Decimal("0.000001"), rounding="ROUND_CEILING"
    )
    assert (trade.taker_fee or 0) == rate
    # Long 0.1 ETH at the fill price: collateral is down by the fee only (PnL is unrealized).
    assert Decimal(venue[0].collateral) == Decimal("100000") - fee
    assert (fee > 0) == (tier == "premium")
