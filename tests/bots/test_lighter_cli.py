"""`manage.py lighter ACCOUNT ...` against the simulator: what an operator sees and does."""

from __future__ import annotations

import asyncio
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from bots.models import ExchangeAccount, Network
from exchange.client import LighterClient
from exchange.types import OrderSide

pytestmark = pytest.mark.django_db

ETH = 0


@pytest.fixture
def account(simulator, funded_account, redis_url, redis_client, settings):
    settings.LIGHTER_PAPER_URL = simulator.base_url
    settings.REDIS_URL = redis_url
    row = ExchangeAccount(
        name="paper-1",
        network=Network.PAPER,
        l1_address=funded_account.l1_address,
        account_index=funded_account.index,
        api_key_index=funded_account.api_key_index,
        tier="premium",
    )
    row.set_api_private_key(funded_account.private_key)
    row.save()
    return row


def _client(simulator, funded_account, redis_url):
    return LighterClient(
        simulator.base_url,
        account_index=funded_account.index,
        api_key_index=funded_account.api_key_index,
        api_private_key=funded_account.private_key,
        redis_url=redis_url,
        tier="premium",
    )


def _trade(simulator, funded_account, redis_url, action):
    async def run():
        async with _client(simulator, funded_account, redis_url) as client:
            return await action(client)

    return asyncio.run(run())


def _lighter(*args: str) -> str:
    out = io.StringIO()
    call_command("lighter", *args, stdout=out)
    return out.getvalue()


def test_positions_when_flat_says_so(account):
    assert "no open positions" in _lighter("paper-1", "positions")


def test_positions_list_an_open_long(account, simulator, funded_account, redis_url):
    async def buy(client):
        ticket = await client.market_order(ETH, OrderSide.BUY, Decimal("0.1"), 900_001)
        return await client.resolve(ticket, final=True)

    _trade(simulator, funded_account, redis_url, buy)
    output = _lighter("paper-1", "positions")
    assert "ETH" in output and "long" in output and "0.1000" in output


def test_orders_and_cancel_all_for_one_symbol(account, simulator, funded_account, redis_url):
    async def rest(client):
        top = (await client.order_book(ETH)).top()
        await client.place_order(ETH, OrderSide.BUY, Decimal("0.1"), top.bid - 50, 900_002)

    _trade(simulator, funded_account, redis_url, rest)
    assert "1 open orders" in _lighter("paper-1", "orders")
    output = _lighter("paper-1", "cancel-all", "ETH")
    assert "1 open before, 0 after: done" in output
    assert "no open orders" in _lighter("paper-1", "orders")


def test_fills_show_side_and_role(account, simulator, funded_account, redis_url):
    async def buy(client):
        ticket = await client.market_order(ETH, OrderSide.BUY, Decimal("0.1"), 900_003)
        await client.resolve(ticket, final=True)

    _trade(simulator, funded_account, redis_url, buy)
    output = _lighter("paper-1", "fills")
    assert "buy" in output and "taker" in output and "900003" in output


def test_close_reports_a_verified_close(account, simulator, funded_account, redis_url):
    async def sell(client):
        ticket = await client.market_order(ETH, OrderSide.SELL, Decimal("0.1"), 900_004)
        await client.resolve(ticket, final=True)

    _trade(simulator, funded_account, redis_url, sell)
    output = _lighter("paper-1", "close", "ETH")
    assert "close ETH: closed after 1 attempt(s)" in output
    assert "remaining 0" in output
    assert "no open positions" in _lighter("paper-1", "positions")


def test_unknown_account_is_a_clear_error(account):
    with pytest.raises(CommandError, match="no exchange account named 'nope'"):
        _lighter("nope", "positions")


def test_close_without_symbol_is_refused(account):
    with pytest.raises(CommandError, match="close needs a SYMBOL"):
        _lighter("paper-1", "close")


def test_private_key_is_never_printed(account, funded_account):
    output = _lighter("paper-1", "positions") + _lighter("paper-1", "orders")
    assert funded_account.private_key not in output
