"""An exchange that is unreachable is weather, not an error: a paper bot whose venue appears later
waits (saying why), then trades by itself."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from bots.models import BotEvent, GridBot
from lighterweb.redis_server import free_port
from tests.bots.runner_support import (
    account_on,
    finish,
    grid_bot,
    set_desired,
    start_runner,
    wait_until,
)
from tests.plugins.simulator import run_simulator

pytestmark = pytest.mark.django_db(transaction=True)
ETH = 0


async def test_a_bot_started_before_its_venue_waits_then_trades(tmp_path):
    port, state_file = free_port(), tmp_path / "venue.json"
    first = run_simulator(port=port, state_file=state_file)
    venue = next(first)
    sim_account = venue.create_account()
    account = await sync_to_async(account_on)(venue, sim_account)
    bot = await sync_to_async(grid_bot)(account, "ETH", levels=2)
    first.close()  # the venue goes away (its state file keeps the account)

    task = start_runner(bot.pk)

    async def waiting() -> bool:
        row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
        return row.status == "starting" and "waiting for the exchange" in row.status_message

    await wait_until(waiting, timeout_s=60, what="the bot waiting for its venue")
    assert not task.done()

    second = run_simulator(port=port, state_file=state_file)
    venue = next(second)
    try:

        async def trading() -> bool:
            row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
            live = venue.call(lambda: venue.engine.state.account_live.get(sim_account.index, {}))
            return row.status == "running" and len(live) == 4

        await wait_until(trading, timeout_s=90, what="the bot trading once the venue is back")
        kinds = await sync_to_async(
            lambda: set(BotEvent.objects.filter(bot=bot).values_list("kind", flat=True))
        )()
        assert "exchange_unreachable" in kinds and "error" not in kinds
        await sync_to_async(set_desired)(bot, "stopped")
        assert await finish(task) == "stopped"
    finally:
        second.close()
