"""Settings take effect: the runner applies the bot's leverage and margin mode before its first
order and reads them back from the exchange."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from bots.engine import legs
from bots.models import BotEvent, GridBot
from exchange.types import MarginMode
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
from tests.plugins.simulator import TEST_CONFIG, RunningSimulator, run_simulator

pytestmark = pytest.mark.django_db(transaction=True)
ETH = 0


@pytest.fixture
def slow_settings() -> Iterator[RunningSimulator]:
    """A simulator that executes a standard account's leverage update 1 s (simulated) after
    accepting it, as Lighter does (lighter-api.md 4.2). Its clock moves only when told."""
    latency = {f"{tier}_{kind}": 0 for tier in ("standard", "premium")
               for kind in ("maker", "taker", "cancel")}  # fmt: skip
    latency |= {"standard_maker": 1000}
    yield from run_simulator({**TEST_CONFIG, "latency_ms": None, "latency": latency})


@pytest.mark.parametrize(
    ("leverage", "margin_mode"), [(Decimal("3"), "isolated"), (Decimal("2"), "cross")]
)
async def test_leverage_and_margin_mode_are_applied_before_the_first_order(
    simulator, funded_account, leverage, margin_mode
):
    account = await sync_to_async(account_on)(simulator, funded_account)
    bot = await sync_to_async(grid_bot)(
        account, "ETH", levels=2, leverage=leverage, margin_mode=margin_mode
    )
    (runner,), (task,) = await start_runners([bot])

    async def trading() -> bool:
        return (
            quiet(runner, simulator)
            and len(sim_open_orders(simulator, funded_account.index, 0)) == 4
        )

    await wait_until(trading, what="the grid resting")
    async with account.client() as client:
        (position,) = [p for p in (await client.account()).positions if p.market_id == 0]
    assert position.leverage == leverage
    assert position.margin_mode is MarginMode(margin_mode)
    kinds = await sync_to_async(
        lambda: list(BotEvent.objects.filter(bot=bot).order_by("id").values_list("kind", flat=True))
    )()
    assert kinds.index("settings_applied") < kinds.index("plan")
    await sync_to_async(set_desired)(bot, "stopped")
    assert await finish(task) == "stopped"


async def test_a_leverage_the_exchange_refuses_puts_the_bot_in_error_before_any_order(
    simulator, funded_account
):
    account = await sync_to_async(account_on)(simulator, funded_account)
    bot = await sync_to_async(grid_bot)(account, "ETH", levels=2)
    # Above the market's maximum: stored by hand, as an operator could not through the admin.
    await sync_to_async(lambda: GridBot.objects.filter(pk=bot.pk).update(leverage=Decimal("500")))()
    (_runner,), (task,) = await start_runners([bot])

    assert await finish(task) == "error"
    row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
    assert "leverage" in row.status_message
    assert sim_open_orders(simulator, funded_account.index, 0) == []


async def test_a_bot_whose_every_placement_is_refused_ends_in_error_with_the_reason(
    settings, simulator, funded_account
):
    settings.BOT_REFUSED_GIVE_UP_SECONDS = 0.5  # a minute in production
    account = await sync_to_async(account_on)(simulator, funded_account)
    bot = await sync_to_async(grid_bot)(account, "ETH", levels=2)
    # Stored by hand past the form's checks: the venue refuses such a ladder on every try.
    await sync_to_async(lambda: GridBot.objects.filter(pk=bot.pk).update(step=Decimal("2000")))()
    (_runner,), (task,) = await start_runners([bot])

    assert await finish(task, timeout_s=60) == "error"
    row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
    assert row.status == "error" and "refused" in row.status_message
    assert sim_open_orders(simulator, funded_account.index, 0) == []


async def test_reading_settings_back_backs_off_and_a_budget_wait_does_not_use_up_the_check(
    settings, redis_url, slow_settings
):
    """Seen on a fresh paper stack: three grids on a standard account (60 requests a minute),
    the ETH grid's leverage check polled the account every 0.2 s (two requests a poll), the
    budget ran dry, a read waited for it past the 10 s check, and the bot went to error with
    "not applied within 10s" although the exchange applied it. Now the read-backs back off and
    only the waits between them count toward the 10 s."""
    settings.REDIS_URL = redis_url
    simulator = slow_settings
    sim_account = simulator.create_account(tier="standard")
    account = await sync_to_async(account_on)(simulator, sim_account, tier="standard")
    async with account.client() as client:
        apply = asyncio.create_task(
            legs.settings_apply(client, ETH, Decimal("3"), MarginMode.CROSS)
        )
        # The exchange holds the update for 4 s: the read-backs must not spend the budget.
        await asyncio.sleep(4)
        usage = await client.budget_usage()
        assert usage is not None
        assert usage.used <= 14, f"{usage.used} requests in 4 s of read-backs"
        assert not apply.done()
        simulator.advance(1000)
        await asyncio.wait_for(apply, 20)
        (position,) = [p for p in (await client.account()).positions if p.market_id == ETH]
    assert position.leverage == Decimal("3")
    assert position.margin_mode is MarginMode.CROSS
