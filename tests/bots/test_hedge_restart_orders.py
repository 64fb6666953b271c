"""A hedge bot's maker order left resting by a run that is gone (the worker died, no fill):
the next run must neither place a second one beside it nor leave it behind when stopped."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from asgiref.sync import sync_to_async

from bots.engine.runner import BotRunner, run_runner, runner_create
from bots.models import BotEvent, HedgeBot, Order
from tests.bots.hedge_support import ETH, hedge_bot
from tests.bots.runner_support import account_on, finish, sim_open_orders, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url


async def _start(bot: HedgeBot) -> tuple[BotRunner, asyncio.Task[str]]:
    runner = await runner_create(bot.pk, fence=1)
    return runner, asyncio.create_task(run_runner(runner))


async def _resting(simulator, account_index: int, count: int) -> bool:
    return len(sim_open_orders(simulator, account_index, ETH)) == count


@pytest.fixture
def pair(simulator):
    maker_sim, taker_sim = simulator.create_account(), simulator.create_account()
    return maker_sim, account_on(simulator, maker_sim), account_on(simulator, taker_sim)


async def test_a_restarted_hedge_bot_cancels_the_order_the_run_before_left(simulator, pair):
    """Before: the new run placed its own order beside the old one (two resting), and its stop,
    reported verified, left the old one on the book."""
    maker_sim, maker, taker = pair
    bot = await sync_to_async(hedge_bot)(maker, taker, hold_min_ms=60_000)
    _, task = await _start(bot)
    await wait_until(lambda: _resting(simulator, maker_sim.index, 1), what="A's opening order")
    (old,) = sim_open_orders(simulator, maker_sim.index, ETH)
    task.cancel()  # the worker is gone; its order rests
    with contextlib.suppress(asyncio.CancelledError):
        await task

    _, task = await _start(bot)
    await wait_until(
        lambda: _async(_indexes(simulator, maker_sim.index) - {old.client_order_index} != set()),
        what="the new run's opening order",
    )
    assert old.client_order_index not in _indexes(simulator, maker_sim.index), "two resting"
    row = await sync_to_async(Order.objects.get)(bot=bot, client_order_index=old.client_order_index)
    assert row.status == "canceled"
    assert await sync_to_async(
        BotEvent.objects.filter(bot=bot, kind="orders_cancelled", level="warning").exists
    )()

    await sync_to_async(HedgeBot.objects.filter(pk=bot.pk).update)(desired_state="stopped")
    assert await finish(task) == "stopped"
    assert sim_open_orders(simulator, maker_sim.index, ETH) == []


def _indexes(simulator, account_index: int) -> set[int]:
    return {o.client_order_index for o in sim_open_orders(simulator, account_index, ETH)}


async def _async(value: bool) -> bool:
    return value
