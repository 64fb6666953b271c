"""Redis briefly gone is weather: a running bot keeps running (or degraded) through a Redis
restart and trades on by itself, under its lease (the real runner against the simulator, a Redis
of its own that the test stops and starts again on the same port, keeping nothing, as the
machine's does). Before, the lease renewal during the outage raised and the bot ended in error;
after a restart that lost the lease, the runner exited and waited for the supervisor."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
import redis
from asgiref.sync import sync_to_async

from bots.engine.leases import BotLease, fence_claim, fence_floor
from bots.engine.runner import run_runner, runner_create
from bots.models import BotEvent, Fill, GridBot
from lighterweb.redis_server import EmbeddedRedis, free_port
from tests.bots.runner_support import (
    account_on,
    finish,
    grid_bot,
    quiet,
    set_desired,
    sim_open_orders,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)
ETH = 0
LEVELS = 2


@pytest.fixture
def own_redis(settings):
    server = EmbeddedRedis(port=free_port(), data_dir=Path(tempfile.mkdtemp(prefix="lw-redis-")))
    server.start()
    settings.REDIS_URL = server.url
    try:
        yield server
    finally:
        server.stop()


async def test_a_redis_restart_leaves_a_running_bot_trading(simulator, funded_account, own_redis):
    index = funded_account.index
    account = await sync_to_async(account_on)(simulator, funded_account)
    bot = await sync_to_async(grid_bot)(account, "ETH", levels=LEVELS)
    lease = BotLease(redis.Redis.from_url(own_redis.url), bot.pk, ttl_s=15)
    fence = await sync_to_async(lease.acquire)(floor=await sync_to_async(fence_floor)(bot.pk))
    assert fence is not None and await sync_to_async(fence_claim)(bot.pk, fence)
    runner = await runner_create(bot.pk, fence=fence, lease=lease)
    task = asyncio.create_task(run_runner(runner))

    async def settled() -> bool:
        orders = sim_open_orders(simulator, index, ETH)
        return quiet(runner, simulator) and len(orders) == 2 * LEVELS

    await wait_until(settled, what="the grid resting")

    own_redis.stop()
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "2991.00"})
    simulator.advance(1000)
    await asyncio.sleep(8)  # longer than the heartbeat (5 s): a renewal falls in the outage
    assert not task.done(), task.result()
    own_redis.start()  # empty: the lease and the fence counter are gone

    async def trading() -> bool:
        row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
        fills = await sync_to_async(Fill.objects.filter(bot=bot).count)()
        orders = sim_open_orders(simulator, index, ETH)
        return row.status == "running" and fills >= 1 and len(orders) == 2 * LEVELS

    await wait_until(trading, timeout_s=90, what="the bot trading again after Redis came back")
    levels = await sync_to_async(
        lambda: list(BotEvent.objects.filter(bot=bot).values_list("level", "kind", "message"))
    )()
    assert not task.done()
    assert "error" not in {level for level, _, _ in levels}, levels
    # The lease was taken again with a larger fence, stored on the bot row.
    assert runner.fence > fence
    assert (await sync_to_async(GridBot.objects.get)(pk=bot.pk)).lease_fence == runner.fence
    await sync_to_async(set_desired)(bot, "stopped")
    assert await finish(task) == "stopped"
