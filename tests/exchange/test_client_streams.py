"""Tickets resolve from the account stream, and survive a dropped websocket via reconcile."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import pytest

from exchange.orders import OrderRequest
from exchange.stream_events import Connected, OrderUpdate, Reconnected
from exchange.tickets import TicketState
from exchange.types import OrderSide

ETH = 0
SIZE = Decimal("0.1")


@pytest.fixture
async def streamed(client):
    """The client with its account stream running and every event fed to `apply_event`."""
    stream = client.open_stream([ETH], backoff_base_s=0.05, backoff_cap_s=0.2)
    seen: asyncio.Queue = asyncio.Queue()

    async def consume() -> None:
        async for event in stream.events():
            client.apply_event(event)
            await seen.put(event)

    await stream.start()
    task = asyncio.create_task(consume())
    await _next(seen, Connected)
    yield client, seen
    await stream.stop()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _next(seen: asyncio.Queue, kind: type, timeout_s: float = 10.0):
    async with asyncio.timeout(timeout_s):
        while True:
            event = await seen.get()
            if isinstance(event, kind):
                return event


async def test_ticket_resolves_from_the_stream_without_rest_polling(streamed):
    client, seen = streamed
    top = (await client.order_book(ETH)).top()
    ticket = await client.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 50, 1)
    await _next(seen, OrderUpdate)
    sent = client.http.requests_sent
    ticket = await client.resolve(ticket, timeout_s=5)
    assert ticket.state is TicketState.RESTING
    assert client.http.requests_sent == sent


async def test_fill_reported_by_the_stream_resolves_an_ioc(streamed):
    client, _ = streamed
    top = (await client.order_book(ETH)).top()
    ticket = await client.place_order(ETH, OrderSide.BUY, SIZE, top.ask, 2, ioc=True)
    ticket = await client.resolve(ticket, timeout_s=5, final=True)
    assert ticket.state is TicketState.FILLED and ticket.filled_size == SIZE


async def test_update_missed_during_a_drop_is_recovered_by_reconcile(streamed, simulator):
    client, seen = streamed
    top = (await client.order_book(ETH)).top()
    ticket = await client.resolve(
        await client.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 50, 3), timeout_s=5
    )
    assert ticket.state is TicketState.RESTING
    # The connection drops as the cancel's report goes out: the report is lost (a drop made
    # before the cancel raced the reconnect, whose stream could carry the report after all).
    simulator.faults({"kind": "ws_drop", "target": "account_all_orders", "count": 1})
    try:
        await client.cancel_order(ETH, 3)
        await _next(seen, Reconnected)
    finally:
        simulator.faults()
    (reconciled,) = await client.reconcile_pending()
    assert reconciled.state is TicketState.REJECTED and reconciled.reason.startswith("canceled")


async def test_tickets_of_ended_orders_keep_no_event_in_the_client(streamed):
    client, _ = streamed
    top = (await client.order_book(ETH)).top()
    requests = [
        OrderRequest(OrderSide.BUY, SIZE, top.bid - 50 - i, 100 + i, post_only=True)
        for i in range(30)
    ]
    resting = await client.place_orders(ETH, requests)
    for ticket in resting:
        assert (await client.resolve(ticket, timeout_s=5)).state is TicketState.RESTING
    assert client.tickets.size().open == 30
    filled = await client.place_order(ETH, OrderSide.BUY, SIZE, top.ask, 200, ioc=True)
    await client.cancel_all(ETH)
    for ticket in [*resting, filled]:
        assert (await client.resolve(ticket, timeout_s=5, final=True)).is_final
    size = client.tickets.size()
    assert (size.open, size.events, size.ended) == (0, 0, 31)
