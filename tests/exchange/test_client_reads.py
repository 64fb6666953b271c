"""LighterClient reads against the simulator, through the real SDK signer for private data."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchange.client import LighterClient
from exchange.errors import AuthError
from exchange.types import PositionSide

ETH = 0


async def test_markets_carry_decimals_minimums_and_leverage(client):
    markets = await client.markets()
    eth = next(m for m in markets if m.symbol == "ETH")
    assert eth.market_id == ETH and eth.size_decimals == 4 and eth.price_decimals == 2
    assert eth.min_base_amount > 0 and eth.max_leverage > 1
    assert (await client.market("eth")) == eth


async def test_markets_are_cached_until_refresh(client):
    await client.markets()
    sent = client.http.requests_sent
    await client.markets()
    assert client.http.requests_sent == sent
    await client.markets(refresh=True)
    assert client.http.requests_sent == sent + 1


async def test_accounts_by_l1_address_lists_the_master(client, funded_account):
    assert await client.accounts_by_l1_address(funded_account.l1_address) == [funded_account.index]


async def test_unknown_l1_address_has_no_accounts(client):
    assert await client.accounts_by_l1_address("0x" + "ab" * 20) == []


async def test_check_api_key_accepts_the_registered_key(client):
    await client.check_api_key()


async def test_check_api_key_names_a_wrong_key(simulator, funded_account):
    other = simulator.create_account()
    async with LighterClient(
        simulator.base_url,
        account_index=funded_account.index,
        api_key_index=funded_account.api_key_index,
        api_private_key=other.private_key,
    ) as wrong:
        with pytest.raises(AuthError) as info:
            await wrong.check_api_key()
    assert other.private_key not in str(info.value)


async def test_account_reads_collateral_and_no_open_position(client, funded_account):
    account = await client.account()
    assert account.account_index == funded_account.index
    assert account.collateral == Decimal("100000")
    assert account.available_balance > 0 and account.equity == account.collateral
    assert all(p.side is PositionSide.FLAT for p in account.positions)


async def test_order_book_top_and_depth(client):
    book = await client.order_book(ETH)
    assert book.bids and book.asks
    top = book.top()
    assert top.bid < top.ask
    prices = [level.price for level in book.bids]
    assert prices == sorted(prices, reverse=True)


async def test_open_orders_start_empty(client):
    assert await client.open_orders() == []
    assert await client.open_orders(market_id=ETH) == []


async def test_private_key_never_appears_in_repr(client, funded_account):
    assert funded_account.private_key not in repr(client)


async def test_budget_usage_is_readable(client):
    await client.markets(refresh=True)
    usage = await client.budget_usage()
    assert usage is not None and usage.used >= 1 and usage.limit > 0


async def test_funding_rates_list_every_market_as_decimal_fractions(client):
    rates = await client.funding_rates()

    by_symbol = {rate.symbol: rate for rate in rates}
    assert {"BTC", "ETH", "SOL"} <= set(by_symbol)
    assert by_symbol["ETH"].market_id == ETH and by_symbol["ETH"].exchange == "lighter"
    assert all(isinstance(rate.rate, Decimal) and abs(rate.rate) < 1 for rate in rates)
