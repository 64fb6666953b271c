"""Operator controls never race the running bot: cancel-all (per bot and per symbol) empties the
book and leaves the bot paused, nothing placed again, no order reported missing."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from bots import services
from bots.engine.leases import BotLease
from bots.models import BotEvent, GridBot
from tests.bots.runner_support import (
    account_on,
    grid_bot,
    quiet,
    sim_open_orders,
    start_runners,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 2


async def _trading_sol_grid(simulator, funded_account, redis_client):
    account = await sync_to_async(account_on)(simulator, funded_account)
    bot = await sync_to_async(grid_bot)(account, "SOL", levels=5)
    (runner,), (task,) = await start_runners([bot])
    # The services see a live runner the way they would a worker's: by its lease.
    assert BotLease(redis_client, bot.pk).acquire() is not None

    async def resting() -> bool:
        orders = sim_open_orders(simulator, funded_account.index, SOL)
        return quiet(runner, simulator) and len(orders) == 10

    await wait_until(resting, what="ten resting SOL orders")
    return account, bot, runner, task


async def _settled_paused(simulator, funded_account, runner, bot) -> None:
    async def paused() -> bool:
        row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
        return row.status == "paused" and row.cancel_all_requested_at is None

    await wait_until(paused, what="the bot paused with its cancel done")

    # Let anything the runner might still plan go out, then look at the book.
    async def still() -> bool:
        return quiet(runner, simulator)

    await wait_until(still, what="the runner quiet")
    assert sim_open_orders(simulator, funded_account.index, SOL) == []
    missing = await sync_to_async(
        lambda: BotEvent.objects.filter(bot=bot, kind="order_missing").count()
    )()
    assert missing == 0


async def test_cancel_all_of_a_running_bot_empties_its_book_and_leaves_it_paused(
    simulator, funded_account, redis_client
):
    _account, bot, runner, task = await _trading_sol_grid(simulator, funded_account, redis_client)

    row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
    await sync_to_async(services.bot_cancel_all)(row, actor="test")

    await _settled_paused(simulator, funded_account, runner, bot)
    assert not task.done()
    task.cancel()


async def test_cancel_all_of_a_symbol_does_not_race_its_running_bot(
    simulator, funded_account, redis_client
):
    account, bot, runner, task = await _trading_sol_grid(simulator, funded_account, redis_client)
    market = await sync_to_async(lambda: bot.market)()

    reports = await sync_to_async(services.cancel_all)(account, market, actor="test")

    assert all(r.verified for r in reports)
    await _settled_paused(simulator, funded_account, runner, bot)
    task.cancel()
