"""Two processes sharing one API key place 200 orders at once: no nonce error surfaces."""

from __future__ import annotations

import asyncio
import multiprocessing
from decimal import Decimal

import pytest

ETH = 0
ORDERS_PER_PROCESS = 100


async def _place_many(base_url, account, redis_url, first_index, queue) -> None:
    from exchange.client import LighterClient
    from exchange.errors import ExchangeError
    from exchange.types import OrderSide

    index, key_index, private_key, l1 = account
    errors: list[str] = []
    async with LighterClient(
        base_url,
        account_index=index,
        api_key_index=key_index,
        api_private_key=private_key,
        l1_address=l1,
        redis_url=redis_url,
        tier="premium",
    ) as client:
        top = (await client.order_book(ETH)).top()

        async def one(i: int) -> None:
            price = top.bid - Decimal(10) - Decimal(i) / 10
            try:
                await client.place_order(
                    ETH, OrderSide.BUY, Decimal("0.01"), price, first_index + i, post_only=True
                )
            except ExchangeError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

        await asyncio.gather(*(one(i) for i in range(ORDERS_PER_PROCESS)))
    queue.put(errors)


def _child(base_url, account, redis_url, first_index, queue) -> None:
    asyncio.run(_place_many(base_url, account, redis_url, first_index, queue))


@pytest.mark.slow
async def test_two_processes_sharing_a_key_place_200_orders_without_nonce_errors(
    simulator, funded_account, redis_url, redis_client
):
    from exchange.client import LighterClient

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    account = (
        funded_account.index,
        funded_account.api_key_index,
        funded_account.private_key,
        funded_account.l1_address,
    )
    children = [
        ctx.Process(
            target=_child,
            args=(simulator.base_url, account, redis_url, 1 + n * ORDERS_PER_PROCESS, queue),
        )
        for n in range(2)
    ]
    for child in children:
        child.start()
    reports = [await asyncio.to_thread(queue.get, True, 120) for _ in children]
    for child in children:
        child.join(timeout=30)
    assert [c.exitcode for c in children] == [0, 0]
    assert reports == [[], []]
    async with LighterClient(
        simulator.base_url,
        account_index=funded_account.index,
        api_key_index=funded_account.api_key_index,
        api_private_key=funded_account.private_key,
    ) as reader:
        orders = await reader.open_orders(ETH)
    assert sorted(o.client_order_index for o in orders) == list(range(1, 201))
