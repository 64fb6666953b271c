"""Hypothesis through the real runner against the simulator: over random interleavings of price
moves (fills), reconnects and the operator's cancel-all / start / stop, nothing is placed after
a cancel-all is taken until the operator starts the bot again, nothing after a stop, and the
exchange's position stays the bot's own fills (no unattributed remainder appears)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.db.models import Max
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bots import ownership
from bots.engine.commands import command_publish
from bots.models import GridBot, Order
from exchange.stream_events import Reconnected
from tests.bots.runner_support import (
    account_on,
    finish,
    grid_bot,
    quiet,
    sim_open_orders,
    start_runners,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)
ETH = 0
LEVELS = 3
STEP = Decimal("7")  # more than the grid's 5: every move crosses a level
# Small on purpose: every example spends the account's real request budget (about 80 reads a
# minute on premium), and a runner waiting for budget would only make the test slow.
OPS = st.lists(
    st.tuples(st.sampled_from(["move", "reconnect", "cancel_all"]), st.booleans()),
    min_size=1,
    max_size=3,
)


def _desire(
    bot: GridBot, state: str, *, cancel_all: bool = False, fence: int | None = None
) -> None:
    fields: dict[str, object] = {"desired_state": state}
    if cancel_all:
        fields["cancel_all_requested_at"] = timezone.now()
    if fence is not None:
        fields |= {"lease_fence": fence, "status": "starting", "cancel_all_requested_at": None}
    GridBot.objects.filter(pk=bot.pk).update(**fields)


def _last_order_id(bot: GridBot) -> int:
    return Order.objects.filter(bot=bot).aggregate(top=Max("id"))["top"] or 0


class Scenario:
    def __init__(self, simulator, index: int, bot: GridBot) -> None:
        self.simulator, self.index, self.bot = simulator, index, bot
        self.price = Decimal("3000")
        self.runner = None

    def orders(self) -> list[object]:
        return sim_open_orders(self.simulator, self.index, ETH)

    async def settle(self) -> None:
        await wait_until(lambda: _true(quiet(self.runner, self.simulator)), what="a quiet runner")

    async def full(self) -> None:
        async def ready() -> bool:
            return quiet(self.runner, self.simulator) and len(self.orders()) == 2 * LEVELS

        await wait_until(ready, what="a full grid")

    def move(self) -> None:
        # Wander around 3000 so the grid keeps trading both ways.
        self.price += STEP if self.price <= Decimal("3000") else -STEP
        self.simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": str(self.price)})
        self.simulator.advance(1000)

    async def do(self, op: str) -> None:
        if op == "move":
            self.move()
        else:
            self.runner.events.put_nowait((self.runner.leg, Reconnected("property", 1)))

    async def cancel_all_then_wait_for_start(self) -> None:
        await _sync(_desire, self.bot, "paused", cancel_all=True)
        await _sync(command_publish, self.bot.pk, "cancel_all")

        async def taken() -> bool:
            return self.runner.paused and not self.orders()

        await wait_until(taken, what="cancel-all taken")
        high = await _sync(_last_order_id, self.bot)
        for op in ("move", "reconnect"):
            await self.do(op)
            await self.settle()
        # The property: whatever happened meanwhile, nothing was placed before the start.
        assert await _sync(_last_order_id, self.bot) == high
        assert self.orders() == []
        await _sync(_desire, self.bot, "running")
        await _sync(command_publish, self.bot.pk, "start")
        await self.full()

    async def start(self) -> asyncio.Task[str]:
        await _sync(_desire, self.bot, "running", fence=1)
        (self.runner,), (task,) = await start_runners([self.bot], fence=1)
        await self.full()
        return task

    async def run(self, script: list[tuple[str, bool]]) -> None:
        """One interleaving, on the runner that lives through all of them (a runner per
        example would open a stream per example)."""
        await self.full()
        # Every interleaving ends with a cancel-all, often in the same burst as a fill.
        for op, wait in [*script, ("cancel_all", False)]:
            if op == "cancel_all":
                await self.cancel_all_then_wait_for_start()
                continue
            await self.do(op)
            if wait:
                await self.settle()

    async def stop(self, task: asyncio.Task[str]) -> None:
        await _sync(_desire, self.bot, "stopped")
        await _sync(command_publish, self.bot.pk, "stop")
        assert await finish(task) == "stopped"
        high = await _sync(_last_order_id, self.bot)
        self.move()
        await asyncio.sleep(0)  # nothing runs any more that could place
        assert await _sync(_last_order_id, self.bot) == high
        assert self.orders() == []
        # Every position on the account is the bot's own: no remainder appeared.
        own = await _sync(ownership.bot_position, self.bot.pk)
        assert own == self.runner.ledger.position_base


async def _sync(call, *args, **kwargs):  # type: ignore[no-untyped-def]
    # asgiref's thread-sensitive executor would follow the context the examples are driven
    # from (hypothesis's worker thread) and wait on it: a plain worker thread instead.
    def run():  # type: ignore[no-untyped-def]
        try:
            return call(*args, **kwargs)
        finally:
            connection.close()

    return await asyncio.to_thread(run)


async def _true(value: bool) -> bool:
    return value


async def test_nothing_is_placed_after_cancel_all_until_start_nor_after_stop(
    simulator, funded_account
):
    account = await sync_to_async(account_on)(simulator, funded_account)
    bot = await sync_to_async(grid_bot)(account, "ETH", levels=LEVELS)
    scenario = Scenario(simulator, funded_account.index, bot)
    task = await scenario.start()
    # Every example runs on this test's event loop (clients and streams are bound to one loop);
    # hypothesis itself drives them from a worker thread.
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=3,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(OPS)
    def interleaving(script: list[tuple[str, bool]]) -> None:
        asyncio.run_coroutine_threadsafe(scenario.run(script), loop).result()

    await asyncio.to_thread(interleaving)
    await scenario.stop(task)
