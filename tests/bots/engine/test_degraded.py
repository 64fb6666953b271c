"""Faults are weather: a running bot whose exchange fails for a while (every REST call answering
503) stays alive as *degraded* with the reason, keeps its lease and orders, records the fill that
happened meanwhile, and is *running* again by itself once the exchange answers (the real runner
against the simulator's fault switches)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from bots.models import BotEvent, Fill, GridBot
from tests.bots.runner_support import (
    account_on,
    finish,
    grid_bot,
    quiet,
    set_desired,
    sim_open_orders,
    start_runners,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)
ETH = 0
LEVELS = 2


async def test_a_failing_exchange_makes_a_running_bot_degraded_then_running_again(
    simulator, funded_account
):
    index = funded_account.index
    account = await sync_to_async(account_on)(simulator, funded_account)
    bot = await sync_to_async(grid_bot)(account, "ETH", levels=LEVELS)
    (runner,), (task,) = await start_runners([bot])

    async def settled() -> bool:
        orders = sim_open_orders(simulator, index, ETH)
        return quiet(runner, simulator) and len(orders) == 2 * LEVELS

    await wait_until(settled, what="the grid resting")

    async def row() -> GridBot:
        return await sync_to_async(GridBot.objects.get)(pk=bot.pk)

    # The exchange fails every REST call; a buy fills meanwhile (3000 -> 2991 crosses 2995), so
    # the grid must send (its replenish) and reconcile into the outage.
    simulator.faults({"kind": "http_5xx", "target": "*"})
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "2991.00"})
    simulator.advance(1000)

    async def degraded() -> bool:
        return (await row()).status == "degraded"

    # The client retries the send for a while (~40 s) before the runner calls it weather.
    await wait_until(degraded, timeout_s=150, what="the bot shown degraded")
    shown = await row()
    assert "503" in shown.status_message or "exchange" in shown.status_message
    assert not task.done()

    simulator.faults()  # the exchange answers again

    async def recovered() -> bool:
        fills = await sync_to_async(Fill.objects.filter(bot=bot).count)()
        orders = sim_open_orders(simulator, index, ETH)
        return (await row()).status == "running" and fills >= 1 and len(orders) == 2 * LEVELS

    await wait_until(recovered, timeout_s=60, what="the bot running again with its fill recorded")
    assert runner.position > 0
    levels = await sync_to_async(
        lambda: set(BotEvent.objects.filter(bot=bot).values_list("level", flat=True))
    )()
    assert "error" not in levels
    assert (await row()).status_message == ""

    await sync_to_async(set_desired)(bot, "stopped")
    assert await finish(task) == "stopped"
