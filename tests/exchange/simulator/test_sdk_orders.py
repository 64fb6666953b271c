"""The unmodified lighter-sdk trades against the simulator: real signatures, HTTP and nonces.

The simulator runs with latency 0, so a tx is executed before sendTx replies; every assertion
reads the result back over REST like a client would.
"""

from __future__ import annotations

from decimal import Decimal

import lighter
import pytest
from lighter import SignerClient

from tests.plugins.simulator import api_client, auth_token, signer_client

ETH = 0
GTT, IOC, POST_ONLY = (
    SignerClient.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME,
    SignerClient.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL,
    SignerClient.ORDER_TIME_IN_FORCE_POST_ONLY,
)
LIMIT = SignerClient.ORDER_TYPE_LIMIT


@pytest.fixture
async def trader(simulator, funded_account):
    client = signer_client(simulator, funded_account)
    api = api_client(simulator)
    yield client, api, funded_account
    await client.close()
    await api.close()


async def _best(api) -> tuple[int, int]:
    """(best ask, best bid) in ticks, parsed the SDK's way."""
    book = await lighter.OrderApi(api).order_book_orders(market_id=ETH, limit=5)
    return int(book.asks[0].price.replace(".", "")), int(book.bids[0].price.replace(".", ""))


async def _active(api, client, account):
    token = auth_token(client, account)
    reply = await lighter.OrderApi(api).account_active_orders(
        authorization=token, account_index=account.index, market_id=ETH
    )
    return reply.orders


async def _inactive(api, client, account):
    token = auth_token(client, account)
    reply = await lighter.OrderApi(api).account_inactive_orders(
        authorization=token, account_index=account.index, limit=100
    )
    return reply.orders


async def _position(api, account) -> Decimal:
    reply = await lighter.AccountApi(api).account(by="index", value=str(account.index))
    for position in reply.accounts[0].positions:
        if position.market_id == ETH:
            return Decimal(position.position) * position.sign
    return Decimal(0)


async def test_check_client_accepts_the_registered_key(trader):
    client, _, _ = trader
    assert client.check_client() is None


async def test_limit_order_rests_on_the_book_with_exact_decimals(trader):
    client, api, account = trader
    _, bid = await _best(api)
    _, reply, err = await client.create_order(ETH, 11, 1000, bid - 500, False, LIMIT, GTT)
    assert err is None and reply.code == 200
    orders = await _active(api, client, account)
    assert [(o.client_order_index, o.status, o.price) for o in orders] == [
        (11, "open", f"{(bid - 500) / 100:.2f}")
    ]
    assert orders[0].initial_base_amount == "0.1000"


async def test_crossing_post_only_order_is_canceled_post_only(trader):
    client, api, account = trader
    ask, _ = await _best(api)
    _, reply, err = await client.create_order(ETH, 12, 1000, ask + 100, False, LIMIT, POST_ONLY)
    assert err is None and reply.code == 200  # accepted is not executed
    statuses = {o.client_order_index: o.status for o in await _inactive(api, client, account)}
    assert statuses[12] == "canceled-post-only"
    assert await _position(api, account) == 0


async def test_ioc_order_fills_what_crosses_and_never_rests(trader):
    client, api, account = trader
    ask, bid = await _best(api)
    await client.create_order(ETH, 13, 1000, ask, False, LIMIT, IOC, order_expiry=0)
    await client.create_order(ETH, 14, 1000, bid - 1000, False, LIMIT, IOC, order_expiry=0)
    statuses = {o.client_order_index: o.status for o in await _inactive(api, client, account)}
    assert statuses[13] == "filled"
    assert statuses[14].startswith("canceled")
    assert await _active(api, client, account) == []
    assert await _position(api, account) == Decimal("0.1")


async def test_market_order_with_protection_price_fills(trader):
    client, api, account = trader
    ask, _ = await _best(api)
    _, reply, err = await client.create_market_order(ETH, 15, 2000, ask + 2000, False)
    assert err is None and reply.code == 200
    assert await _position(api, account) == Decimal("0.2")


async def test_market_order_whose_protection_is_below_the_book_does_not_fill(trader):
    client, api, account = trader
    _, bid = await _best(api)
    await client.create_market_order(ETH, 16, 1000, bid - 1000, False)
    statuses = {o.client_order_index: o.status for o in await _inactive(api, client, account)}
    assert statuses[16].startswith("canceled")
    assert await _position(api, account) == 0


async def test_reduce_only_order_never_flips_the_position(trader):
    client, api, account = trader
    ask, bid = await _best(api)
    await client.create_market_order(ETH, 17, 1000, ask + 2000, False)
    await client.create_market_order(ETH, 18, 3000, bid - 2000, True, reduce_only=True)
    assert await _position(api, account) == 0


async def test_modify_changes_price_and_size_of_a_resting_order(trader):
    client, api, account = trader
    _, bid = await _best(api)
    await client.create_order(ETH, 19, 1000, bid - 500, False, LIMIT, GTT)
    _, reply, err = await client.modify_order(ETH, 19, 2000, bid - 600)
    assert err is None and reply.code == 200
    [order] = await _active(api, client, account)
    assert (order.price, order.remaining_base_amount) == (f"{(bid - 600) / 100:.2f}", "0.2000")


async def test_cancel_by_client_index_and_by_exchange_index(trader):
    client, api, account = trader
    _, bid = await _best(api)
    await client.create_order(ETH, 20, 1000, bid - 500, False, LIMIT, GTT)
    await client.create_order(ETH, 21, 1000, bid - 600, False, LIMIT, GTT)
    by_client = {o.client_order_index: o for o in await _active(api, client, account)}
    await client.cancel_order(ETH, 20)
    await client.cancel_order(ETH, by_client[21].order_index)
    assert await _active(api, client, account) == []
    statuses = {o.client_order_index: o.status for o in await _inactive(api, client, account)}
    assert statuses[20] == statuses[21] == "canceled"


async def test_batch_of_fifty_orders_is_accepted_and_placed(trader):
    client, api, account = trader
    _, bid = await _best(api)
    key = account.api_key_index
    types, infos = [], []
    for i in range(50):
        _, nonce = await client.nonce_manager.async_next_nonce(key)
        tx_type, tx_info, _, err = client.sign_create_order(
            ETH, 100 + i, 500, bid - 500 - i, False, LIMIT, GTT, nonce=nonce, api_key_index=key
        )
        assert err is None
        types.append(tx_type)
        infos.append(tx_info)
    reply = await client.send_tx_batch(tx_types=types, tx_infos=infos)
    assert reply.code == 200 and len(reply.tx_hash) == 50
    assert len(await _active(api, client, account)) == 50


async def test_grouped_otoco_places_parent_and_waiting_children(trader):
    client, api, account = trader
    ask, bid = await _best(api)
    expiry = -1
    parent = lighter.signer_client.CreateOrderTxReq(
        MarketIndex=ETH, ClientOrderIndex=31, BaseAmount=1000, Price=bid - 500, IsAsk=0,
        Type=LIMIT, TimeInForce=GTT, ReduceOnly=0, TriggerPrice=0, OrderExpiry=expiry,
    )  # fmt: skip
    take_profit = lighter.signer_client.CreateOrderTxReq(
        MarketIndex=ETH, ClientOrderIndex=32, BaseAmount=0, Price=ask + 5000, IsAsk=1,
        Type=SignerClient.ORDER_TYPE_TAKE_PROFIT_LIMIT, TimeInForce=GTT, ReduceOnly=1,
        TriggerPrice=ask + 4000, OrderExpiry=expiry,
    )  # fmt: skip
    stop_loss = lighter.signer_client.CreateOrderTxReq(
        MarketIndex=ETH, ClientOrderIndex=33, BaseAmount=0, Price=bid - 5000, IsAsk=1,
        Type=SignerClient.ORDER_TYPE_STOP_LOSS_LIMIT, TimeInForce=GTT, ReduceOnly=1,
        TriggerPrice=bid - 4000, OrderExpiry=expiry,
    )  # fmt: skip
    _, reply, err = await client.create_grouped_orders(
        SignerClient.GROUPING_TYPE_ONE_TRIGGERS_A_ONE_CANCELS_THE_OTHER,
        [parent, take_profit, stop_loss],
    )
    assert err is None and reply.code == 200
    orders = {o.client_order_index: o for o in await _active(api, client, account)}
    assert orders[31].status == "open"
    assert {orders[32].status, orders[33].status} == {"pending"}
    assert orders[32].parent_order_index == orders[31].order_index


async def test_scheduled_cancel_all_fires_when_the_clock_passes_it(simulator, trader):
    client, api, account = trader
    _, bid = await _best(api)
    await client.create_order(ETH, 41, 1000, bid - 500, False, LIMIT, GTT)
    now_ms = simulator.sim("GET", "/sim/clock")["now_ms"]
    fire_at = now_ms + 6 * 60_000
    _, reply, err = await client.cancel_all_orders(SignerClient.CANCEL_ALL_TIF_SCHEDULED, fire_at)
    assert err is None and reply.code == 200
    detail = await lighter.AccountApi(api).account(by="index", value=str(account.index))
    assert detail.accounts[0].cancel_all_time == fire_at
    assert len(await _active(api, client, account)) == 1
    simulator.advance(6 * 60_000 + 1)
    assert await _active(api, client, account) == []


async def test_invalid_nonce_is_refused_and_hard_refresh_recovers(simulator, trader):
    client, api, account = trader
    _, bid = await _best(api)
    await client.create_order(ETH, 51, 1000, bid - 500, False, LIMIT, GTT)
    # A second process using the same key moves the exchange's nonce behind our back.
    other = signer_client(simulator, account)
    await other.create_order(ETH, 52, 1000, bid - 600, False, LIMIT, GTT)
    await other.close()
    _, _, err = await client.create_order(ETH, 53, 1000, bid - 700, False, LIMIT, GTT)
    assert "invalid nonce" in err
    _, reply, err = await client.create_order(ETH, 53, 1000, bid - 700, False, LIMIT, GTT)
    assert err is None and reply.code == 200
    assert {o.client_order_index for o in await _active(api, client, account)} == {51, 52, 53}


async def test_budget_overrun_surfaces_as_api_exception_429(simulator, trader):
    _, api, account = trader
    simulator.ratelimit(enabled=True, standard_per_minute=2)
    accounts = lighter.AccountApi(api)
    await accounts.account(by="index", value=str(account.index))
    await accounts.account(by="index", value=str(account.index))
    with pytest.raises(lighter.ApiException) as refused:
        await accounts.account(by="index", value=str(account.index))
    assert refused.value.status == 429
    assert "23000" in str(refused.value)


async def test_private_endpoint_is_refused_without_a_token(trader):
    _, api, account = trader
    with pytest.raises(lighter.exceptions.UnauthorizedException):
        await lighter.OrderApi(api).account_active_orders(
            authorization="", account_index=account.index
        )


async def test_private_endpoint_is_refused_with_another_accounts_token(simulator, trader):
    client, api, account = trader
    stranger = simulator.create_account()
    with pytest.raises(lighter.exceptions.UnauthorizedException):
        await lighter.OrderApi(api).account_active_orders(
            authorization=auth_token(client, account), account_index=stranger.index
        )
