"""Faithfulness: request budgets and private endpoints, driven only through the unmodified SDK
as a mainnet bot would. Each test names its evidence."""

from __future__ import annotations

import lighter
import pytest

from tests.exchange.simulator.sdk_reads import ETH, GTT, LIMIT
from tests.plugins.simulator import api_client, auth_token, signer_client


async def test_budget_overrun_surfaces_as_api_exception_429(simulator, trader):
    # lighter-api.md §6.3 (standard: 60 requests a minute), §1.1 (HTTP 429, code 23000; the
    # SDK raises a plain ApiException, lighter/exceptions.py).
    _, api, account = trader
    simulator.ratelimit(enabled=True, standard_per_minute=2)
    accounts = lighter.AccountApi(api)
    await accounts.account(by="index", value=str(account.index))
    await accounts.account(by="index", value=str(account.index))
    with pytest.raises(lighter.ApiException) as refused:
        await accounts.account(by="index", value=str(account.index))
    assert refused.value.status == 429
    assert "23000" in str(refused.value)


async def test_transactions_share_the_standard_accounts_budget(simulator, funded_account):
    # lighter-api.md §6.3 (standard accounts: reads and txs share 60 a minute) and §1.2 (a
    # signed tx counts against its account's L1 address).
    simulator.ratelimit(enabled=True, standard_per_minute=2)
    client = signer_client(simulator, funded_account)
    # nextNonce (the SDK's first call, unauthenticated) is the IP's; the orders are the L1's.
    for coi in (1, 2):
        _, reply, err = await client.create_order(ETH, coi, 1000, 250000 - coi, False, LIMIT, GTT)
        assert err is None and reply.code == 200
    with pytest.raises(lighter.ApiException) as refused:
        await client.create_order(ETH, 3, 1000, 249000, False, LIMIT, GTT)
    await client.close()
    assert refused.value.status == 429


async def test_unauthenticated_reads_are_budgeted_per_ip_not_per_named_account(simulator):
    # lighter-api.md §6.3 / §1.2: limits apply per IP unless the request is authenticated, which
    # makes only the L1 address's limit apply. Naming an account does not authenticate a read.
    first, second = simulator.create_account(), simulator.create_account()
    simulator.ratelimit(enabled=True, standard_per_minute=2)
    api = api_client(simulator)
    accounts, orders = lighter.AccountApi(api), lighter.OrderApi(api)
    await accounts.account(by="index", value=str(first.index))
    await accounts.account(by="index", value=str(second.index))
    with pytest.raises(lighter.ApiException) as refused:
        await accounts.account(by="index", value=str(first.index))
    assert refused.value.status == 429

    client = signer_client(simulator, first)
    token = auth_token(client, first)
    reply = await orders.account_active_orders(authorization=token, account_index=first.index)
    assert reply.code == 200  # an authenticated read is the L1 address's, which has spent nothing
    await client.close()
    await api.close()


async def test_private_endpoint_is_refused_without_a_token(trader):
    # lighter-api.md §1.2, §9.4 (accountActiveOrders needs an auth token).
    _, api, account = trader
    with pytest.raises(lighter.exceptions.UnauthorizedException):
        await lighter.OrderApi(api).account_active_orders(
            authorization="", account_index=account.index
        )


async def test_private_endpoint_is_refused_with_another_accounts_token(simulator, trader):
    # lighter-api.md §1.2 (the token names its account).
    client, api, account = trader
    stranger = simulator.create_account()
    with pytest.raises(lighter.exceptions.UnauthorizedException):
        await lighter.OrderApi(api).account_active_orders(
            authorization=auth_token(client, account), account_index=stranger.index
        )
