"""Reads of the faithfulness suite, done the way a mainnet bot does them: the SDK's REST API
classes, prices and sizes parsed from the exact decimal strings the way the SDK parses them
(`int(price.replace(".", ""))`, lighter/signer_client.py `get_best_price`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import lighter
from lighter import SignerClient

from tests.plugins.simulator import SimAccount, auth_token

ETH = 0
GTT, IOC, POST_ONLY = (
    SignerClient.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME,
    SignerClient.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL,
    SignerClient.ORDER_TIME_IN_FORCE_POST_ONLY,
)
LIMIT, MARKET = SignerClient.ORDER_TYPE_LIMIT, SignerClient.ORDER_TYPE_MARKET
# Tokens are signed on the wall clock and checked on the simulator's (manual) clock, which
# tests move hours ahead: four hours of validity covers every test and stays under the 8 h cap.
TOKEN_S = 4 * 3600


async def best(api: Any, market_id: int = ETH) -> tuple[int, int]:
    """(best ask, best bid) in ticks."""
    book = await lighter.OrderApi(api).order_book_orders(market_id=market_id, limit=5)
    return int(book.asks[0].price.replace(".", "")), int(book.bids[0].price.replace(".", ""))


async def active(api: Any, client: Any, account: SimAccount) -> list[Any]:
    """The account's live ETH orders (accountActiveOrders, with a fresh auth token)."""
    reply = await lighter.OrderApi(api).account_active_orders(
        authorization=auth_token(client, account, TOKEN_S),
        account_index=account.index,
        market_id=ETH,
    )
    return list(reply.orders)


async def inactive(api: Any, client: Any, account: SimAccount) -> dict[int, Any]:
    """The account's ended orders by client order index (accountInactiveOrders)."""
    reply = await lighter.OrderApi(api).account_inactive_orders(
        authorization=auth_token(client, account, TOKEN_S),
        account_index=account.index,
        limit=100,
    )
    return {o.client_order_index: o for o in reply.orders}


async def account_detail(api: Any, account: SimAccount) -> Any:
    """The DetailedAccount of `account` (GET account?by=index)."""
    reply = await lighter.AccountApi(api).account(by="index", value=str(account.index))
    return reply.accounts[0]


async def position(api: Any, account: SimAccount, market_id: int = ETH) -> Decimal:
    """Signed position size."""
    for row in (await account_detail(api, account)).positions:
        if row.market_id == market_id:
            return Decimal(row.position) * row.sign
    return Decimal(0)
