"""Account history and market data reads: fills with filters and cursors, closed orders,
candles across pages, funding, recent trades; auth tokens renewed before they expire."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from exchange.client import AUTH_TOKEN_TTL_S, LighterClient
from exchange.execution import CloseStatus
from exchange.tickets import TicketState
from exchange.types import LiquidityRole, OrderSide, PositionSide
from tests.exchange.conftest import client_for
from tests.plugins.simulator import TEST_CONFIG, run_simulator

ETH = 0
SIZE = Decimal("0.1")


async def _taker_buys(client, ids, n):
    tickets = []
    for _ in range(n):
        t = await client.market_order(ETH, OrderSide.BUY, SIZE, next(ids))
        tickets.append(await client.resolve(t, final=True))
    return tickets


async def test_fills_page_with_a_cursor_newest_first(client, ids):
    await _taker_buys(client, ids, 3)
    first = await client.fills(ETH, limit=2)
    assert len(first.items) == 2 and first.next_cursor
    second = await client.fills(ETH, limit=2, cursor=first.next_cursor)
    seen = [f.trade_id for f in first.items + second.items]
    assert len(set(seen)) == 3 and seen == sorted(seen, reverse=True)


async def test_fills_filter_by_order_and_time(client, ids):
    tickets = await _taker_buys(client, ids, 2)
    mine = await client.fills(ETH, order_index=tickets[0].order_index)
    assert {f.client_order_index for f in mine.items} == {tickets[0].client_order_index}
    latest = max(f.timestamp_ms for f in (await client.fills(ETH)).items)
    assert (await client.fills(ETH, start_ms=latest + 1)).items == ()


async def test_maker_fill_when_another_account_hits_our_bid(
    client, simulator, funded_account, redis_url, ids
):
    top = (await client.order_book(ETH)).top()
    price = top.bid + Decimal("0.5")  # best bid, ahead of the liquidity agent
    ticket = await client.resolve(await client.place_order(ETH, OrderSide.BUY, SIZE, price, 1))
    other = simulator.create_account(api_key_index=4)
    async with client_for(simulator, other, redis_url) as seller:
        hit = await seller.place_order(ETH, OrderSide.SELL, SIZE, price, 1, ioc=True)
        assert (await seller.resolve(hit, final=True)).state is TicketState.FILLED
    assert (await client.resolve(ticket, final=True)).state is TicketState.FILLED
    (fill,) = (await client.fills(ETH, role=LiquidityRole.MAKER)).items
    assert fill.side is OrderSide.BUY and fill.price == price and fill.size == SIZE


async def test_closed_orders_page_through_history(client, ids):
    top = (await client.order_book(ETH)).top()
    for i in range(3):
        await client.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 50 - i, next(ids))
    await client.cancel_all(ETH)
    first = await client.closed_orders(ETH, limit=2)
    assert len(first.items) == 2 and first.next_cursor
    rest = await client.closed_orders(ETH, limit=2, cursor=first.next_cursor)
    statuses = {o.status for o in first.items + rest.items}
    assert len(first.items + rest.items) == 3 and statuses == {"canceled"}
    assert (await client.closed_orders(ETH, side=OrderSide.SELL)).items == ()


async def test_recent_trades_and_last_trade_price(client, ids):
    await _taker_buys(client, ids, 1)
    trades = await client.recent_trades(ETH)
    assert trades and trades[-1].taker_side is OrderSide.BUY
    assert await client.last_trade_price(ETH) == trades[-1].price


async def test_candles_span_more_than_one_page(client, simulator, ids):
    await _taker_buys(client, ids, 1)
    now_ms = simulator.call(lambda: simulator.server.now_ms())
    start = now_ms - 700 * 60_000
    sent = client.http.requests_sent
    candles = await client.candles(ETH, "1m", start, now_ms)
    assert client.http.requests_sent - sent == 2  # 701 one-minute buckets, 500 per call
    assert candles and candles[-1].volume_base >= SIZE
    assert all(start <= c.timestamp_ms <= now_ms for c in candles)


async def test_funding_is_paid_on_the_hour(redis_url, redis_client, ids):
    config = TEST_CONFIG | {"funding_enabled": True}
    for sim in run_simulator(config):
        account = sim.create_account()
        async with client_for(sim, account, redis_url) as client:
            await client.resolve(
                await client.market_order(ETH, OrderSide.BUY, SIZE, next(ids)), final=True
            )
            # A bid of ours just under the ask lifts the mid above the index: longs pay.
            top = (await client.order_book(ETH)).top()
            await client.place_order(
                ETH, OrderSide.BUY, SIZE, top.ask - Decimal("0.5"), next(ids), post_only=True
            )
            now_s = sim.call(lambda s=sim: s.server.now_ms()) // 1000
            sim.advance(2 * 3_600_000)
            payments = (await client.funding_payments(ETH)).items
            rates = await client.fundings(ETH, now_s - 3600, now_s + 3 * 3600)
        assert payments and all(p.market_id == ETH for p in payments)
        assert payments[0].position_side == "long" and payments[0].position_size == SIZE
        assert payments[0].change < 0 and payments[0].rate > 0
        assert rates


async def test_auth_token_is_renewed_shortly_before_expiry(simulator, funded_account):
    now = [1_800_000_000.0]
    async with LighterClient(
        simulator.base_url,
        account_index=funded_account.index,
        api_key_index=funded_account.api_key_index,
        api_private_key=funded_account.private_key,
        clock=lambda: now[0],
    ) as client:
        first = await client.auth_token()
        now[0] += AUTH_TOKEN_TTL_S / 2
        assert await client.auth_token() == first
        now[0] += AUTH_TOKEN_TTL_S / 2 - 60
        renewed = await client.auth_token()
    assert renewed != first
    assert int(renewed.split(":")[0]) == int(now[0]) + AUTH_TOKEN_TTL_S
    assert renewed.split(":")[1:3] == [str(funded_account.index), "3"]


async def test_close_that_never_executes_fails_with_the_reason(client, simulator, ids):
    await client.resolve(await client.market_order(ETH, OrderSide.BUY, SIZE, next(ids)), final=True)
    simulator.faults({"kind": "tx_never_executed", "target": "sendTx"})
    result = await client.close_position(ETH, ids, attempts=2, timeout_s=0.2)
    assert result.status is CloseStatus.FAILED and result.remaining_size == SIZE
    assert "never executed" in result.reason


async def test_a_close_of_part_of_a_position_leaves_the_rest_and_never_crosses_sides(client, ids):
    # A bot's own part of the account's position (the rest is others'): only that is closed.
    await client.resolve(
        await client.market_order(ETH, OrderSide.BUY, 3 * SIZE, next(ids)), final=True
    )
    wrong_side = await client.close_position(ETH, ids, size=SIZE, position_side=PositionSide.SHORT)
    assert wrong_side.status is CloseStatus.FAILED and wrong_side.closed_size == 0
    assert wrong_side.reason == "the account's position is long, not short"
    result = await client.close_position(ETH, ids, size=SIZE, position_side=PositionSide.LONG)
    assert result.status is CloseStatus.CLOSED and result.closed_size == SIZE
    position = (await client.account()).position(ETH)
    assert position is not None and position.size == 2 * SIZE
    # More than the position: what there is closes, never a flip to the other side.
    result = await client.close_position(ETH, ids, size=5 * SIZE, position_side=PositionSide.LONG)
    assert result.status is CloseStatus.CLOSED and result.closed_size == 2 * SIZE
    after = (await client.account()).position(ETH)
    assert after is None or after.size == 0


async def test_premium_fills_carry_lighters_fee_rates_and_the_venue_charges_exactly_them(
    simulator, redis_url, redis_client, ids
):
    # lighter-api.md §8.2: premium pays 0.0040 % as maker and 0.0280 % as taker; trade payloads
    # carry the rates in 1e-6, and the fee is charged to collateral on the USDC grid, rounded up.
    # A bot books fees from exactly these fills, so its PnL can only match the venue's if
    # fills and collateral agree to the micro-dollar.
    account = simulator.create_account("100000", tier="premium")
    async with client_for(simulator, account, redis_url) as client:
        await client.resolve(
            await client.market_order(ETH, OrderSide.BUY, 2 * SIZE, next(ids)), final=True
        )
        top = (await client.order_book(ETH)).top()
        price = top.ask - Decimal("0.01")  # best ask, ahead of the liquidity agent
        resting = await client.place_order(ETH, OrderSide.SELL, SIZE, price, next(ids))
        other = simulator.create_account(api_key_index=4)
        async with client_for(simulator, other, redis_url) as buyer:
            hit = await buyer.place_order(ETH, OrderSide.BUY, SIZE, price, 1, ioc=True)
            assert (await buyer.resolve(hit, final=True)).state is TicketState.FILLED
        assert (await client.resolve(resting, final=True)).state is TicketState.FILLED
        await client.resolve(
            await client.market_order(ETH, OrderSide.SELL, SIZE, next(ids)), final=True
        )
        fills = (await client.fills(ETH)).items
        venue = await client.account()

    rates = sorted((f.role, f.fee_rate_e6) for f in fills)
    assert rates == [
        (LiquidityRole.MAKER, 40),
        (LiquidityRole.TAKER, 280),
        (LiquidityRole.TAKER, 280),
    ]
    micro = Decimal("0.000001")
    fees = sum(
        ((f.quote * f.fee_rate_e6 / Decimal(1_000_000)).quantize(micro, rounding=ROUND_CEILING)
         for f in fills),
        Decimal(0),
    )  # fmt: skip
    traded = sum((f.quote if f.side is OrderSide.SELL else -f.quote for f in fills), Decimal(0))
    assert fees > 0
    assert venue.position(ETH).size == 0
    assert venue.collateral == Decimal("100000") + traded - fees
