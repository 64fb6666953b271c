"""LighterClient writes against the simulator with the real SDK signer: every order kind
resolves to what the exchange did, never to "200 means done"."""

from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal

import pytest

from exchange.client import LighterClient
from exchange.errors import OrderRefusedError
from exchange.orders import DEFAULT_EXPIRY_PERIOD_MS
from exchange.tickets import TicketState
from exchange.trading import OrderRequest, TriggerRequest
from exchange.types import LiquidityRole, MarginMode, OrderSide, PositionSide
from tests.exchange.conftest import client_for

ETH = 0
SIZE = Decimal("0.1")


async def _top(client):
    return (await client.order_book(ETH)).top()


async def test_gtt_limit_below_the_book_rests(client, ids):
    top = await _top(client)
    ticket = await client.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 50, next(ids))
    assert ticket.state is TicketState.SUBMITTED
    ticket = await client.resolve(ticket)
    assert ticket.state is TicketState.RESTING and ticket.order_index
    (order,) = await client.open_orders(ETH)
    assert order.client_order_index == ticket.client_order_index and order.price == top.bid - 50


async def test_order_status_by_exchange_index_and_client_index(client, ids):
    top = await _top(client)
    ticket = await client.resolve(
        await client.place_order(ETH, OrderSide.SELL, SIZE, top.ask + 50, next(ids))
    )
    by_client = await client.order_status(client_order_index=ticket.client_order_index)
    by_index = await client.order_status(order_index=ticket.order_index)
    assert by_client == by_index and by_client.status == "open" and by_client.fill_ratio == 0
    assert await client.order_status(ticket=ticket) == by_client


async def test_post_only_that_would_cross_is_rejected_with_the_reason(client, ids):
    top = await _top(client)
    ticket = await client.place_order(
        ETH, OrderSide.BUY, SIZE, top.ask + 1, next(ids), post_only=True
    )
    ticket = await client.resolve(ticket)
    assert ticket.state is TicketState.REJECTED
    assert ticket.reason == "canceled-post-only"


async def test_marketable_ioc_fills_and_shows_as_a_taker_fill(client, ids):
    top = await _top(client)
    ticket = await client.place_order(ETH, OrderSide.BUY, SIZE, top.ask, next(ids), ioc=True)
    ticket = await client.resolve(ticket, final=True)
    assert ticket.state is TicketState.FILLED and ticket.fill_ratio == 1
    fills = (await client.fills(ETH, role=LiquidityRole.TAKER)).items
    assert [f.size for f in fills if f.client_order_index == ticket.client_order_index] == [SIZE]
    assert (await client.fills(ETH, side=OrderSide.SELL)).items == ()


async def test_market_order_fills_within_its_protection_price(client, ids):
    top = await _top(client)
    ticket = await client.market_order(ETH, OrderSide.BUY, SIZE, next(ids))
    ticket = await client.resolve(ticket, final=True)
    assert ticket.state is TicketState.FILLED
    assert ticket.average_price <= top.ask * Decimal("1.01")
    position = (await client.account()).position(ETH)
    assert position.side is PositionSide.LONG and position.size == SIZE


async def test_order_beyond_margin_is_accepted_then_cancelled_with_the_reason(
    simulator, redis_url, redis_client, ids
):
    # lighter-api.md §9.1 and §4.3: the sequencer, not sendTx, refuses an order the account
    # cannot afford; the order ends `canceled-margin-not-allowed` and the ticket carries it.
    poor = simulator.create_account("100")
    async with client_for(simulator, poor, redis_url) as client:
        top = await _top(client)
        ticket = await client.place_order(ETH, OrderSide.BUY, Decimal("1"), top.bid, next(ids))
        assert ticket.state is TicketState.SUBMITTED
        ticket = await client.resolve(ticket, final=True)
        assert ticket.state is TicketState.REJECTED
        assert ticket.reason == "canceled-margin-not-allowed"
        assert await client.open_orders(ETH) == []


async def test_order_below_minimum_is_refused_before_sending(client, ids):
    eth = await client.market(ETH)
    sent = client.http.requests_sent
    with pytest.raises(OrderRefusedError, match=str(eth.min_base_amount)):
        await client.place_order(ETH, OrderSide.BUY, eth.min_base_amount / 2, Decimal(1000), 1)
    assert client.http.requests_sent == sent


async def test_prices_round_away_from_aggression_and_sizes_down(client, ids):
    top = await _top(client)
    buy = await client.place_order(
        ETH, OrderSide.BUY, Decimal("0.10009"), top.bid - Decimal("10.009"), next(ids)
    )
    sell = await client.place_order(
        ETH, OrderSide.SELL, SIZE, top.ask + Decimal("10.001"), next(ids)
    )
    assert buy.price == top.bid - Decimal("10.01") and buy.size == Decimal("0.1000")
    assert sell.price == top.ask + Decimal("10.01")


async def test_modify_then_cancel_a_resting_order(client, ids):
    top = await _top(client)
    ticket = await client.resolve(
        await client.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 50, next(ids))
    )
    await client.modify_order(ETH, ticket.order_index, Decimal("0.2"), top.bid - 60, OrderSide.BUY)
    (order,) = await client.open_orders(ETH)
    assert (order.price, order.remaining_size) == (top.bid - 60, Decimal("0.2"))
    await client.cancel_order(ETH, ticket.client_order_index)
    ticket = await client.reconcile(ticket)
    assert ticket.state is TicketState.REJECTED and ticket.reason.startswith("canceled")
    assert await client.open_orders(ETH) == []
    closed = await client.closed_orders(ETH)
    assert [o.client_order_index for o in closed.items] == [ticket.client_order_index]


async def test_cancel_all_in_one_market_leaves_the_others(client, ids):
    eth_top = await _top(client)
    btc_top = (await client.order_book(1)).top()
    await client.place_order(ETH, OrderSide.BUY, SIZE, eth_top.bid - 50, next(ids))
    await client.place_order(1, OrderSide.BUY, Decimal("0.01"), btc_top.bid - 500, next(ids))
    await client.cancel_all(ETH)
    assert await client.open_orders(ETH) == []
    assert len(await client.open_orders(1)) == 1
    await client.cancel_all()
    assert await client.open_orders() == []


async def test_sixty_orders_go_out_as_two_batches_and_all_rest(client, ids):
    top = await _top(client)
    requests = [
        OrderRequest(OrderSide.BUY, SIZE, top.bid - 10 - i, next(ids), post_only=True)
        for i in range(60)
    ]
    sent = client.http.requests_sent
    tickets = await client.place_orders(ETH, requests)
    batch_requests = client.http.requests_sent - sent
    assert len(tickets) == 60 and batch_requests <= 4  # 2 batches + market/nonce lookups
    assert len(await client.open_orders(ETH)) == 60
    resolved = [await client.resolve(t) for t in tickets[:3]]
    assert {t.state for t in resolved} == {TicketState.RESTING}
    results = await client.cancel_orders(ETH, [t.client_order_index for t in tickets])
    assert len(results) == 2 and await client.open_orders(ETH) == []


async def test_otoco_places_entry_with_take_profit_and_stop_loss(client, ids):
    top = await _top(client)
    tickets = await client.place_grouped(
        ETH,
        entry=OrderRequest(OrderSide.BUY, SIZE, top.bid - 20, next(ids)),
        take_profit=TriggerRequest(top.ask + 100, top.ask + 99, next(ids)),
        stop_loss=TriggerRequest(top.bid - 200, top.bid - 201, next(ids)),
    )
    assert len(tickets) == 3
    orders = await client.open_orders(ETH)
    assert {o.client_order_index for o in orders} == {t.client_order_index for t in tickets}
    # The legs share one expiry, 28 days ahead (see the next test).
    (expiry,) = {o.order_expiry_ms for o in orders}
    assert abs(expiry - (time.time() * 1000 + DEFAULT_EXPIRY_PERIOD_MS)) < 60_000


async def test_position_tied_oco_follows_an_open_position(client, ids):
    await client.resolve(await client.market_order(ETH, OrderSide.BUY, SIZE, next(ids)), final=True)
    top = await _top(client)
    tickets = await client.place_grouped(
        ETH,
        take_profit=TriggerRequest(top.ask + 100, top.ask + 99, next(ids)),
        stop_loss=TriggerRequest(top.bid - 200, top.bid - 201, next(ids)),
        position_side=OrderSide.BUY,
    )
    orders = await client.open_orders(ETH)
    assert {o.client_order_index for o in orders} == {t.client_order_index for t in tickets}
    assert all(o.reduce_only and o.side is OrderSide.SELL for o in orders)


async def test_leverage_and_margin_mode_update(client, ids):
    await client.update_leverage(ETH, Decimal(5), MarginMode.ISOLATED)
    await client.resolve(await client.market_order(ETH, OrderSide.BUY, SIZE, next(ids)), final=True)
    position = (await client.account()).position(ETH)
    assert position.leverage == Decimal(5) and position.margin_mode is MarginMode.ISOLATED


async def test_dead_mans_switch_arms_and_aborts(client, simulator):
    now_s = simulator.call(lambda: simulator.server.now_ms()) / 1000
    at_ms = await client.arm_dead_mans_switch(600, now_s=now_s)
    assert (await client.account()).cancel_all_time_ms == at_ms
    await client.abort_dead_mans_switch()
    assert (await client.account()).cancel_all_time_ms == 0


async def test_dead_mans_switch_cancels_everything_when_not_renewed(client, simulator, ids):
    top = await _top(client)
    await client.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 50, next(ids))
    now_s = simulator.call(lambda: simulator.server.now_ms()) / 1000
    await client.arm_dead_mans_switch(300, now_s=now_s)
    simulator.advance(301_000)
    assert await client.open_orders(ETH) == []


async def test_verified_cancel_waits_for_the_exchange_to_confirm(client, ids):
    top = await _top(client)
    ticket = await client.resolve(
        await client.place_order(ETH, OrderSide.SELL, SIZE, top.ask + 50, next(ids))
    )
    cancelled = await client.cancel_verified(ETH, ticket.client_order_index)
    assert cancelled.state is TicketState.REJECTED and cancelled.reason == "canceled"
    assert cancelled.is_final


async def test_verified_cancel_of_an_order_placed_elsewhere(
    client, simulator, funded_account, redis_url, ids
):
    top = await _top(client)
    async with LighterClient(
        simulator.base_url,
        account_index=funded_account.index,
        api_key_index=funded_account.api_key_index,
        api_private_key=funded_account.private_key,
        redis_url=redis_url,
        tier="premium",
    ) as other:
        await other.resolve(await other.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 50, 77))
    cancelled = await client.cancel_verified(ETH, 77)
    assert cancelled.state is TicketState.REJECTED and cancelled.order_index


async def test_the_sdk_signs_every_group_whose_legs_carry_one_expiry(client, funded_account):
    """The SDK's signer turns each leg's -1 into "now + 28 days" from its own clock reading:
    when the millisecond turns between two legs it refuses the whole group (about one group
    in 700 before the legs carried one explicit expiry). With one expiry for every leg, as the
    client sends them, the real signer accepts thousands of groups in a row."""
    from exchange.orders import Grouping, GroupSpec, OrderType, build_order, one_expiry
    from exchange.signer import Signer

    top = await _top(client)
    # An OTOCO's legs, signed again and again (no send): entry, take-profit, stop-loss.
    info = await client.market(ETH)
    entry = build_order(info, side=OrderSide.BUY, size=SIZE, price=top.bid, client_order_index=1)
    exits = [  # size 0: the children close what the entry's fill opened
        replace(build_order(info, side=OrderSide.SELL, size=SIZE, price=price,
                            client_order_index=i, order_type=kind, trigger_price=trigger,
                            reduce_only=True), base_amount=0)
        for i, kind, price, trigger in (
            (2, OrderType.TAKE_PROFIT_LIMIT, top.ask + 99, top.ask + 100),
            (3, OrderType.STOP_LOSS_LIMIT, top.bid - 201, top.bid - 200),
        )
    ]  # fmt: skip
    signer = Signer(
        client.base_url, chain_id=304, account_index=funded_account.index,
        api_key_index=funded_account.api_key_index, api_private_key=funded_account.private_key,
    )  # fmt: skip
    try:
        for nonce in range(3000):
            legs = one_expiry([entry, *exits], int(time.time() * 1000))
            signer.sign(GroupSpec(Grouping.OTOCO, legs), nonce)  # raises on a refusal
    finally:
        await signer.close()
