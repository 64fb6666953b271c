"""Where the Go signer runs: in place on a runner's own thread, on the key's signing thread when
the loop is the interpreter's main thread (where the Go signer is ~3x slower)."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from typing import Any

from exchange.tickets import TicketState
from exchange.types import OrderSide
from tests.exchange.conftest import client_for

ETH = 0


async def place_one(simulator: Any, account: Any, redis_url: str, index: int) -> tuple[bool, str]:
    """Place one resting bid; returns whether a signing thread was started and the order's
    status once the exchange has it."""
    async with client_for(simulator, account, redis_url) as client:
        top = await client.book_top(ETH)
        assert top.bid is not None
        price = top.bid - Decimal("50")
        ticket = await client.place_order(ETH, OrderSide.BUY, Decimal("0.01"), price, index)
        ticket = await client.resolve(ticket)
        return client.signer._thread is not None, ticket.state.value


async def test_a_loop_on_its_own_thread_signs_in_place(
    simulator, funded_account, redis_url, redis_client
):
    found: list[tuple[bool, str]] = []

    def runner_thread() -> None:
        found.append(asyncio.run(place_one(simulator, funded_account, redis_url, 71)))

    thread = threading.Thread(target=runner_thread, name="bot-test")
    thread.start()
    await asyncio.to_thread(thread.join, 30)

    assert found == [(False, TicketState.RESTING.value)]


async def test_the_main_threads_loop_signs_on_the_signing_thread(
    simulator, funded_account, redis_url, redis_client
):
    assert threading.current_thread() is threading.main_thread()

    placed = await place_one(simulator, funded_account, redis_url, 72)

    assert placed == (True, TicketState.RESTING.value)
