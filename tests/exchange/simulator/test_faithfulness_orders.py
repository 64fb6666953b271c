"""Faithfulness: order types and their outcomes, driven only through the unmodified SDK.

The simulator runs with latency 0, so a tx is executed before sendTx replies; every assertion
reads the result back over REST like a mainnet bot would. Each test names its evidence:
lighter-api.md sections and the SDK functions (lighter/signer_client.py) it relies on.
"""

from __future__ import annotations

from decimal import Decimal

import lighter
from lighter import SignerClient

from tests.exchange.simulator.sdk_reads import (
    ETH,
    GTT,
    IOC,
    LIMIT,
    POST_ONLY,
    active,
    best,
    inactive,
    position,
)

FIVE_MINUTES_MS = 300_000


async def test_check_client_accepts_the_registered_key(trader):
    # SDK SignerClient.check_client -> GET apikeys; lighter-api.md §11.1, §9.7.
    client, _, _ = trader
    assert client.check_client() is None


async def test_limit_order_rests_on_the_book_with_exact_decimals(trader):
    # lighter-api.md §4.2 (limit GTT rests), §4.4 (order object), §9.5 (exact decimals).
    client, api, account = trader
    _, bid = await best(api)
    _, reply, err = await client.create_order(ETH, 11, 1000, bid - 500, False, LIMIT, GTT)
    assert err is None and reply.code == 200
    orders = await active(api, client, account)
    assert [(o.client_order_index, o.status, o.price) for o in orders] == [
        (11, "open", f"{(bid - 500) / 100:.2f}")
    ]
    assert orders[0].initial_base_amount == "0.1000"


async def test_modify_changes_price_and_size_of_a_resting_order(trader):
    # lighter-api.md §3.6 (BaseAmount is the new total); SDK modify_order.
    client, api, account = trader
    _, bid = await best(api)
    await client.create_order(ETH, 19, 1000, bid - 500, False, LIMIT, GTT)
    _, reply, err = await client.modify_order(ETH, 19, 2000, bid - 600)
    assert err is None and reply.code == 200
    [order] = await active(api, client, account)
    assert (order.price, order.remaining_base_amount) == (f"{(bid - 600) / 100:.2f}", "0.2000")


async def test_cancel_by_client_index_and_by_exchange_index(trader):
    # lighter-api.md §3.4 (Index is a client index below 2^48, an order index above); SDK
    # cancel_order.
    client, api, account = trader
    _, bid = await best(api)
    await client.create_order(ETH, 20, 1000, bid - 500, False, LIMIT, GTT)
    await client.create_order(ETH, 21, 1000, bid - 600, False, LIMIT, GTT)
    by_client = {o.client_order_index: o for o in await active(api, client, account)}
    await client.cancel_order(ETH, 20)
    await client.cancel_order(ETH, by_client[21].order_index)
    assert await active(api, client, account) == []
    ended = await inactive(api, client, account)
    assert ended[20].status == ended[21].status == "canceled"


async def test_order_expiry_must_be_at_least_five_minutes_ahead(simulator, trader):
    # lighter-api.md §4.2 (expiry window 5 min .. 30 days, 21711 "invalid expiry"; lighter-go
    # MinOrderExpiryPeriod); SDK create_order(order_expiry=...).
    client, api, _ = trader
    _, bid = await best(api)
    now_ms = simulator.sim("GET", "/sim/clock")["now_ms"]
    _, _, err = await client.create_order(
        ETH, 22, 1000, bid - 500, False, LIMIT, GTT, order_expiry=now_ms + FIVE_MINUTES_MS - 1
    )
    assert err is not None and "21711" in err
    _, reply, err = await client.create_order(
        ETH, 22, 1000, bid - 500, False, LIMIT, GTT, order_expiry=now_ms + 2 * FIVE_MINUTES_MS
    )
    assert err is None and reply.code == 200


async def test_crossing_post_only_order_is_canceled_post_only(trader):
    # lighter-api.md §4.2 (post-only), §9.1 (200 is "accepted", not "executed").
    client, api, account = trader
    ask, _ = await best(api)
    _, reply, err = await client.create_order(ETH, 12, 1000, ask + 100, False, LIMIT, POST_ONLY)
    assert err is None and reply.code == 200
    assert (await inactive(api, client, account))[12].status == "canceled-post-only"
    assert await position(api, account) == 0


async def test_ioc_order_fills_what_crosses_and_never_rests(trader):
    # lighter-api.md §4.2 (limit IOC: the remainder is cancelled, never rests).
    client, api, account = trader
    ask, bid = await best(api)
    await client.create_order(ETH, 13, 1000, ask, False, LIMIT, IOC, order_expiry=0)
    await client.create_order(ETH, 14, 1000, bid - 1000, False, LIMIT, IOC, order_expiry=0)
    ended = await inactive(api, client, account)
    assert ended[13].status == "filled"
    assert ended[14].status.startswith("canceled")
    assert await active(api, client, account) == []
    assert await position(api, account) == Decimal("0.1")


async def test_market_order_with_protection_price_fills(trader):
    # lighter-api.md §4.2 (market: Price is the protection price); SDK create_market_order.
    client, api, account = trader
    ask, _ = await best(api)
    _, reply, err = await client.create_market_order(ETH, 15, 2000, ask + 2000, False)
    assert err is None and reply.code == 200
    assert await position(api, account) == Decimal("0.2")


async def test_market_order_whose_protection_is_below_the_book_does_not_fill(trader):
    # lighter-api.md §4.2, §4.3 (`canceled-too-much-slippage`), §9.2.
    client, api, account = trader
    _, bid = await best(api)
    await client.create_market_order(ETH, 16, 1000, bid - 1000, False)
    assert (await inactive(api, client, account))[16].status == "canceled-too-much-slippage"
    assert await position(api, account) == 0


async def test_market_order_worst_price_bounds_the_average_not_each_level(trader):
    # lighter-api.md §4.2 ("bounds the average execution price"). SDK
    # create_market_order_quote_amount walks orderBookOrders, checks the AVERAGE against
    # best * (1 + slippage) and sends that as the order's price: the order must then fill in
    # full even though its second level is worse than that price.
    client, api, account = trader
    book = await lighter.OrderApi(api).order_book_orders(market_id=ETH, limit=5)
    first, second = (Decimal(a.price) for a in book.asks[:2])
    first_quote = first * Decimal(book.asks[0].remaining_base_amount)
    # Buy one and a half levels; allow a slippage a third of the way to the second level.
    slippage = float((second - first) / first / 3)
    _, reply, err = await client.create_market_order_quote_amount(
        ETH, 17, float(first_quote * Decimal("1.5")), slippage, False
    )
    assert err is None and reply.code == 200, err
    order = (await inactive(api, client, account))[17]
    worst = Decimal(order.price)
    assert first < worst < second
    assert order.status == "filled"
    average = Decimal(order.filled_quote_amount) / Decimal(order.filled_base_amount)
    assert first < average <= worst


async def test_reduce_only_order_never_flips_the_position(trader):
    # lighter-api.md §4.2 (reduce-only: oversize is trimmed to the position).
    client, api, account = trader
    ask, bid = await best(api)
    await client.create_market_order(ETH, 18, 1000, ask + 2000, False)
    await client.create_market_order(ETH, 23, 3000, bid - 2000, True, reduce_only=True)
    assert await position(api, account) == 0


async def test_order_beyond_margin_is_accepted_then_canceled_margin_not_allowed(simulator):
    # lighter-api.md §9.1 (the sequencer cancels what the API accepted; sendTx never says
    # why), §4.3 status `canceled-margin-not-allowed`, §3.9 (accepted => nonce consumed).
    from tests.plugins.simulator import api_client, signer_client

    poor = simulator.create_account("100")
    client, api = signer_client(simulator, poor), api_client(simulator)
    _, bid = await best(api)
    # 1 ETH needs ~150 USDC of initial margin at the default 20x.
    _, reply, err = await client.create_order(ETH, 24, 10000, bid, False, LIMIT, GTT)
    assert err is None and reply.code == 200
    assert (await inactive(api, client, poor))[24].status == "canceled-margin-not-allowed"
    nonce = await lighter.TransactionApi(api).next_nonce(account_index=poor.index, api_key_index=3)
    assert nonce.nonce == 1
    await client.close()
    await api.close()


async def test_stop_loss_waits_for_the_mark_price_then_closes_the_position(simulator, trader):
    # lighter-api.md §4.2 (SL/TP triggered by the mark price, `pending` + trigger_status
    # `mark-price` until then); SDK create_sl_order (market-style SL, IOC, 28-day expiry).
    client, api, account = trader
    ask, bid = await best(api)
    await client.create_market_order(ETH, 25, 1000, ask + 2000, False)
    trigger = bid - 3000
    _, reply, err = await client.create_sl_order(ETH, 26, 1000, trigger, trigger - 3000, True)
    assert err is None and reply.code == 200
    [stop] = await active(api, client, account)
    assert (stop.status, stop.trigger_status) == ("pending", "mark-price")
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": str((trigger - 100) / 100)})
    assert (await inactive(api, client, account))[26].status == "filled"
    assert await position(api, account) == 0


async def test_grouped_otoco_places_parent_and_waiting_children(trader):
    # lighter-api.md §3.7 (OTOCO: parent + TP + SL, children sized by the parent's fill,
    # `pending` while waiting); SDK create_grouped_orders + CreateOrderTxReq.
    client, api, account = trader
    ask, bid = await best(api)
    expiry = -1  # the signer makes it 28 days
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
    orders = {o.client_order_index: o for o in await active(api, client, account)}
    assert orders[31].status == "open"
    assert {orders[32].status, orders[33].status} == {"pending"}
    assert orders[32].parent_order_index == orders[31].order_index
