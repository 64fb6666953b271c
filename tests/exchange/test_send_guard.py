"""The send guard (a bot runner's lease and command check) runs once per transaction send,
under the nonce lock right before signing; a send it refuses costs nothing at the exchange."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchange.errors import ExchangeError
from exchange.types import OrderSide

ETH = 0
SIZE = Decimal("0.1")


class Guard:
    """Counts its checks; refuses once told to."""

    def __init__(self) -> None:
        self.checks = 0
        self.refusing = False

    async def __call__(self) -> None:
        self.checks += 1
        if self.refusing:
            raise ExchangeError("this runner no longer holds the bot's lease")


async def test_the_guard_runs_once_per_send_and_a_refused_send_costs_no_request(client, ids):
    guard = Guard()
    client.guard_sends(guard)
    top = (await client.order_book(ETH)).top()

    await client.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 50, next(ids))

    assert guard.checks == 1
    next_nonce = await client.reads.next_nonce(client.api_key_index)
    sent = client.http.requests_sent

    guard.refusing = True
    with pytest.raises(ExchangeError, match="no longer holds"):
        await client.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 60, next(ids))

    # Refused under the nonce lock: no POST, and no resync read (the send's fate is known).
    assert guard.checks == 2
    assert client.http.requests_sent == sent
    guard.refusing = False
    await client.place_order(ETH, OrderSide.BUY, SIZE, top.bid - 70, next(ids))
    assert await client.reads.next_nonce(client.api_key_index) == next_nonce + 1
    assert len(await client.open_orders(ETH)) == 2
