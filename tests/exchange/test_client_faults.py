"""The client under exchange faults: 429 bursts, 5xx, lost transactions, invalid nonces, and
closing against a thin book. Nothing reaches the caller that the client can absorb."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
import redis.exceptions

from exchange.budget import RequestBudget, operator_lane
from exchange.client import LighterClient
from exchange.errors import RateLimitedError, TransientError
from exchange.execution import CloseStatus
from exchange.http import RestTransport
from exchange.redis_clients import async_redis_client
from exchange.tickets import TicketState
from exchange.types import OrderSide, PositionSide
from lighterweb.redis_server import free_port
from tests.exchange.conftest import client_for

ETH = 0
SIZE = Decimal("0.1")


async def test_burst_of_429s_on_sendtx_never_reaches_the_caller(client, simulator, ids):
    top = (await client.order_book(ETH)).top()
    simulator.faults({"kind": "http_429", "target": "sendTx", "count": 3})
    ticket = await client.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 50, next(ids))
    assert (await client.resolve(ticket)).state is TicketState.RESTING
    assert client.http.rate_limited_replies == 3
    assert len(await client.open_orders(ETH)) == 1  # sent once, no duplicate


async def test_burst_of_429s_on_reads_is_absorbed(client, simulator):
    simulator.faults({"kind": "http_429", "target": "account", "count": 3})
    account = await client.account()
    assert account.collateral > 0 and client.http.rate_limited_replies == 3


async def test_server_errors_on_sendtx_leave_no_nonce_gap(client, simulator, ids):
    top = (await client.order_book(ETH)).top()
    simulator.faults({"kind": "http_5xx", "target": "sendTx", "count": 2})
    first = await client.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 50, next(ids))
    second = await client.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 51, next(ids))
    states = {(await client.resolve(t)).state for t in (first, second)}
    assert states == {TicketState.RESTING}


async def test_send_that_times_out_is_retried_without_a_duplicate_or_a_gap(
    simulator, funded_account, redis_url, redis_client, ids
):
    async with client_for(
        simulator, funded_account, redis_url, tier="premium", request_timeout_s=0.3
    ) as c:
        top = (await c.order_book(ETH)).top()
        simulator.faults({"kind": "latency", "target": "sendTx", "latency_ms": 1000, "count": 1})
        ticket = await c.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 50, next(ids))
        assert (await c.resolve(ticket)).state is TicketState.RESTING
        assert [o.client_order_index for o in await c.open_orders(ETH)] == [1]
        after = await c.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 51, next(ids))
        assert (await c.resolve(after)).state is TicketState.RESTING


async def test_standard_tier_budget_makes_callers_wait_instead_of_429(
    simulator, redis_url, redis_client
):
    account = simulator.create_account(tier="standard")
    simulator.ratelimit(enabled=True, standard_per_minute=60)
    async with client_for(simulator, account, redis_url, tier="standard", per_minute=5) as c:
        for _ in range(4):  # routine traffic gets 4 of 5 (a quarter is the operator's)
            await c.account()
        usage = await c.budget_usage()
        assert (usage.used, usage.limit) == (4, 5)
        assert c.http.rate_limited_replies == 0


async def test_the_venue_never_sees_a_request_beyond_the_margin(simulator, redis_url, redis_client):
    # The simulator counts 60 a minute per L1 address (and per IP) and answers a 61st with 429;
    # its clock stands still, so nothing leaves its window during the test.
    account = simulator.create_account(tier="standard")
    simulator.ratelimit(enabled=True, standard_per_minute=60)
    async with (
        client_for(simulator, account, redis_url, tier="standard") as routine,
        client_for(simulator, account, redis_url, tier="standard") as operator,
    ):
        for c in (routine, operator):
            c.http.budget_timeout_s = 0.3  # give up quickly instead of waiting a minute

        async def read(c: LighterClient, lane: bool) -> bool:
            try:
                if lane:
                    with operator_lane():
                        await c.account()
                else:
                    await c.account()
            except RateLimitedError as exc:
                assert exc.status is None, exc  # our budget's refusal, never the venue's 429
                return False
            return True

        routine_done = await asyncio.gather(*(read(routine, False) for _ in range(50)))
        operator_done = await asyncio.gather(*(read(operator, True) for _ in range(20)))
        # 37 routine, then the operator's 18 on top: never the venue's last five.
        assert (sum(routine_done), sum(operator_done)) == (37, 18)
        both = await asyncio.gather(
            *(read(routine, False) for _ in range(5)), *(read(operator, True) for _ in range(5))
        )
        assert not any(both)
        assert routine.http.requests_sent + operator.http.requests_sent == 55
        assert routine.http.rate_limited_replies == operator.http.rate_limited_replies == 0


async def test_invalid_nonce_is_resynced_and_resigned_once(client, redis_client, ids):
    top = (await client.order_book(ETH)).top()
    await client.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 50, next(ids))
    # Another writer moved the exchange's nonce behind our back (or our counter is stale).
    key = f"lighterweb:nonce:{client.account_index}:{client.api_key_index}:next"
    redis_client.set(key, await client.next_nonce(client.api_key_index) + 7)
    ticket = await client.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 51, next(ids))
    assert (await client.resolve(ticket)).state is TicketState.RESTING


async def test_accepted_but_never_executed_order_is_unknown_then_reconciled(client, simulator, ids):
    top = (await client.order_book(ETH)).top()
    simulator.faults({"kind": "tx_never_executed", "target": "sendTx", "count": 1})
    ticket = await client.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 50, next(ids))
    ticket = await client.resolve(ticket, timeout_s=0.3)
    assert ticket.state is TicketState.UNKNOWN
    ticket = await client.reconcile(ticket)
    assert ticket.state is TicketState.REJECTED and "never executed" in ticket.reason
    # The lost tx consumed no nonce: the next order still goes through.
    nxt = await client.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 51, next(ids))
    assert (await client.resolve(nxt)).state is TicketState.RESTING


async def test_close_position_is_verified_from_the_account(client, ids):
    await client.resolve(await client.market_order(ETH, OrderSide.BUY, SIZE, next(ids)), final=True)
    result = await client.close_position(ETH, ids)
    assert result.status is CloseStatus.CLOSED and result.remaining_size == 0
    assert result.attempts == 1 and result.closed_size == SIZE
    assert (await client.account()).position(ETH).side is PositionSide.FLAT


async def test_close_against_a_thin_book_retries_wider_until_closed(client, simulator, ids):
    await client.resolve(
        await client.market_order(ETH, OrderSide.SELL, SIZE, next(ids)), final=True
    )
    simulator.faults({"kind": "partial_fill", "target": "sendTx", "count": 1})
    result = await client.close_position(ETH, ids)
    assert result.status is CloseStatus.CLOSED and result.attempts == 2
    assert result.tickets[0].filled_size == SIZE / 2


async def test_close_that_stays_partial_reports_the_remainder(client, simulator, ids):
    await client.resolve(await client.market_order(ETH, OrderSide.BUY, SIZE, next(ids)), final=True)
    simulator.faults({"kind": "partial_fill", "target": "sendTx"})
    result = await client.close_position(ETH, ids, attempts=2)
    assert result.status is CloseStatus.PARTIAL
    assert result.remaining_size == Decimal("0.025") and result.closed_size == Decimal("0.075")


async def test_close_with_no_position_is_already_closed(client, ids):
    result = await client.close_position(ETH, ids)
    assert result.status is CloseStatus.CLOSED and result.attempts == 0


async def test_redis_unreachable_is_a_transient_error():
    # The budget lives in Redis: losing it is weather (retry), not a crash with a redis type.
    dead = async_redis_client(f"redis://127.0.0.1:{free_port()}/0")
    transport = RestTransport("http://127.0.0.1:9", budget=RequestBudget(dead, "nowhere"))
    try:
        with pytest.raises(TransientError) as raised:
            await transport.post_form("sendTx", {"tx_type": 14, "tx_info": "{}"})
    finally:
        await transport.close()
        await dead.aclose()
    assert raised.value.is_transient
    assert isinstance(raised.value.__cause__, redis.exceptions.ConnectionError)
