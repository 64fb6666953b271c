"""A hedge bot restarted after its run died (the worker was killed): what that run left on the
exchange is the bot's. Its maker order still resting must neither get a second one beside it
nor be left behind by a stop; B's hedge it sent and did not live to record is the bot's fill."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from bots.engine.runner import BotRunner, run_runner, runner_create
from bots.models import BotEvent, Fill, HedgeBot, Order
from tests.bots.hedge_support import ETH, fill_resting, hedge_bot, wait_positions
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


@pytest.fixture
def both(simulator):
    maker_sim, taker_sim = simulator.create_account(), simulator.create_account()
    maker, taker = account_on(simulator, maker_sim), account_on(simulator, taker_sim)
    return maker_sim, taker_sim, maker, taker


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


def _b_fills(bot: HedgeBot, taker_id: int) -> list[Fill]:
    return list(Fill.objects.filter(bot=bot, account_id=taker_id))


async def test_bs_hedge_the_run_before_did_not_record_is_recorded_by_the_next(simulator, both):
    """Before: B's fill was only known to the run that sent the hedge (its client index in
    memory); the next run never recorded it, so the bot's own position on B stayed 0 against
    the exchange's -0.01 (shown unattributed) and the pair's PnL missed B's side."""
    maker_sim, taker_sim, maker, taker = both
    bot = await sync_to_async(hedge_bot)(maker, taker, hold_min_ms=60_000)
    runner, task = await _start(bot)
    await wait_until(lambda: _resting(simulator, maker_sim.index, 1), what="A's opening order")
    await fill_resting(simulator, maker_sim.index)
    await wait_positions(simulator, runner, maker_sim.index, taker_sim.index, "0.01", "-0.01")
    await wait_until(lambda: _b_recorded(bot, taker.pk), what="B's fill recorded")
    # The run dies before it records B's fill: what its database then holds.
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await sync_to_async(lambda: Fill.objects.filter(bot=bot, account_id=taker.pk).delete())()

    runner, task = await _start(bot)
    await wait_until(lambda: _b_recorded(bot, taker.pk), what="B's fill recorded by the new run")
    fills = await sync_to_async(_b_fills)(bot, taker.pk)
    assert [(f.side, f.size_base, f.order_id) for f in fills] == [("sell", Decimal("0.01"), None)]

    await sync_to_async(HedgeBot.objects.filter(pk=bot.pk).update)(desired_state="stopped")
    assert await finish(task) == "stopped"


async def _b_recorded(bot: HedgeBot, taker_id: int) -> bool:
    return len(await sync_to_async(_b_fills)(bot, taker_id)) == 1
