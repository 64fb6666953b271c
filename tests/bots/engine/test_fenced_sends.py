"""The fence guards the runner's database writes; the lease check guards its sends: a runner
whose lease passed to a successor sends nothing."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from bots.engine.leases import BotLease, lease_key
from bots.engine.runner import run_runner, runner_create
from tests.bots.runner_support import account_on, grid_bot, quiet, sim_open_orders, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
ETH = 0


async def test_a_runner_whose_lease_was_taken_sends_nothing(
    simulator, funded_account, redis_client
):
    index = funded_account.index
    account = await sync_to_async(account_on)(simulator, funded_account)
    bot = await sync_to_async(grid_bot)(account, "ETH", levels=3)
    lease = BotLease(redis_client, bot.pk)
    fence = lease.acquire()
    assert fence == 1  # the bot row's fence (grid_bot), so the runner's writes pass
    runner = await runner_create(bot.pk, fence=fence, lease=lease)
    task = asyncio.create_task(run_runner(runner))

    async def full() -> bool:
        return quiet(runner, simulator) and len(sim_open_orders(simulator, index, ETH)) == 6

    await wait_until(full, what="six resting orders")
    # A successor takes the lease (the old holder stalled past its TTL); the row's fence is not
    # claimed yet, so only the lease tells the old runner it must not send.
    redis_client.delete(lease_key(bot.pk))
    assert BotLease(redis_client, bot.pk).acquire() == 2
    resting = {o.client_order_index for o in sim_open_orders(simulator, index, ETH)}

    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "3007.00"})
    simulator.advance(1000)

    assert await asyncio.wait_for(task, 30) == "lease_lost"
    after = {o.client_order_index for o in sim_open_orders(simulator, index, ETH)}
    assert after <= resting, f"the old runner placed {sorted(after - resting)}"
