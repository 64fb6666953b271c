"""The fence guards the runner's database writes; the lease check guards its sends: a runner
whose lease passed to a successor sends nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async

from bots.engine.commands import Shutdown
from bots.engine.leases import BotLease, lease_key
from bots.engine.runner import BotRunner, run_runner, runner_create
from exchange.budget import RequestBudget
from tests.bots.runner_support import (
    account_on,
    grid_bot,
    quiet,
    routine_lane_fill,
    sim_open_orders,
    wait_full_grid,
    wait_until,
)
from tests.plugins.simulator import TEST_CONFIG, RunningSimulator, run_simulator

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

    await wait_full_grid(runner, simulator, index, 6)
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


async def test_a_runner_blocked_on_the_budget_sends_nothing_once_its_bot_moved_on(
    simulator, funded_account, redis_client, redis_url
):
    index = funded_account.index
    account = await sync_to_async(account_on)(simulator, funded_account, tier="standard")
    bot = await sync_to_async(grid_bot)(account, "ETH", levels=3)
    lease = BotLease(redis_client, bot.pk)
    fence = lease.acquire()
    runner = await runner_create(bot.pk, fence=fence, lease=lease)
    task = asyncio.create_task(run_runner(runner))

    await wait_full_grid(runner, simulator, index, 6)
    resting = {o.client_order_index for o in sim_open_orders(simulator, index, ETH)}
    # Routine traffic of other processes fills the routine lane of the account's budget.
    aredis = await routine_lane_fill(redis_url, account)
    budget = runner.client.http.budget
    assert budget is not None and budget.waits == 0

    # The grid moves: the runner's replan passes its lease check and waits for budget.
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "3007.00"})
    simulator.advance(1000)

    async def waiting() -> bool:
        return budget.waits > 0

    await wait_until(waiting, what="the runner waiting for budget")
    # Meanwhile the supervisor gives the bot to a new runner (the old lease expired unrenewed).
    redis_client.delete(lease_key(bot.pk))
    assert BotLease(redis_client, bot.pk).acquire() == 2
    # The budget frees up: the old runner gets its slot, and must still send nothing.
    for key in redis_client.scan_iter("lighterweb:budget:*"):
        redis_client.delete(key)

    assert await asyncio.wait_for(task, 30) == "lease_lost"
    after = {o.client_order_index for o in sim_open_orders(simulator, index, ETH)}
    assert after <= resting, f"the old runner placed {sorted(after - resting)}"
    await aredis.aclose()


@dataclass
class _Waiting:
    """A grid runner with a 1 s lease whose account's routine budget is full (others used it)."""

    runner: BotRunner
    task: asyncio.Task[str]
    index: int
    fence: int
    budget: RequestBudget

    async def waited_long(self) -> bool:
        # Each refused try pauses at least MAX_POLL_S: 16 of them span four TTLs or more.
        return self.budget.waits >= 16

    async def lease_kept(self, redis_client) -> None:  # type: ignore[no-untyped-def]
        """The lease still holds our fence after the long wait; then the budget frees up."""
        await wait_until(self.waited_long, what="the runner waiting for budget for 4 s")
        assert redis_client.get(lease_key(self.runner.bot.pk)) == str(self.fence).encode()
        for key in redis_client.scan_iter("lighterweb:budget:*"):
            redis_client.delete(key)

    async def end(self) -> None:
        assert self.runner.fence == self.fence
        self.runner.events.put_nowait(Shutdown())
        await asyncio.wait_for(self.task, 30)
        kinds = await sync_to_async(list)(self.runner.bot.events.values_list("kind", flat=True))
        assert "lease_retaken" not in kinds


@contextlib.asynccontextmanager
async def _waiting_runner(simulator, funded_account, redis_client, redis_url):  # type: ignore[no-untyped-def]
    index = funded_account.index
    account = await sync_to_async(account_on)(simulator, funded_account, tier="standard")
    bot = await sync_to_async(grid_bot)(account, "ETH", levels=3)
    lease = BotLease(redis_client, bot.pk, ttl_s=1)
    fence = lease.acquire()
    runner = await runner_create(bot.pk, fence=fence, lease=lease)
    task = asyncio.create_task(run_runner(runner))

    await wait_full_grid(runner, simulator, index, 6)
    aredis = await routine_lane_fill(redis_url, account)
    budget = runner.client.http.budget
    assert budget is not None and budget.waits == 0
    try:
        yield _Waiting(runner, task, index, fence, budget)
    finally:
        await aredis.aclose()


async def test_a_runner_waiting_on_the_budget_longer_than_its_ttl_keeps_its_lease(
    simulator, funded_account, redis_client, redis_url
):
    """Three bots starting on one account wait for budget for tens of seconds: the waiting
    runner is alive, so its lease must not lapse (a lapse lets a queued restart run the bot
    twice, and was seen as 'lease had expired; taken again' on every paper start)."""
    async with _waiting_runner(simulator, funded_account, redis_client, redis_url) as waiting:
        simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "3007.00"})
        simulator.advance(1000)

        await waiting.lease_kept(redis_client)

        async def replaced() -> bool:
            orders = sim_open_orders(simulator, waiting.index, ETH)
            return quiet(waiting.runner, simulator) and len(orders) == 6

        await wait_until(replaced, what="the grid placed again around the new price")
        await waiting.end()


async def test_a_runners_read_waiting_on_the_budget_longer_than_its_ttl_keeps_its_lease(
    simulator, funded_account, redis_client, redis_url
):
    async with _waiting_runner(simulator, funded_account, redis_client, redis_url) as waiting:
        # A routine read through the runner's client (as its reconcile reads) waits for budget.
        read = asyncio.create_task(waiting.runner.client.recent_trades(ETH))

        await waiting.lease_kept(redis_client)

        await asyncio.wait_for(read, 30)
        await waiting.end()


@pytest.fixture
def slow_cancels() -> Iterator[RunningSimulator]:
    """A simulator whose cancels execute 200 ms after they are accepted (a standard account's
    on Lighter, lighter-api.md 4.2); places at once. Its clock moves only when told."""
    latency = {f"{tier}_{kind}": 0 for tier in ("standard", "premium")
               for kind in ("maker", "taker", "cancel")}  # fmt: skip
    latency |= {"standard_cancel": 200, "premium_cancel": 200}
    yield from run_simulator({**TEST_CONFIG, "latency_ms": None, "latency": latency})


async def test_a_cancel_sent_after_a_long_budget_wait_is_not_taken_for_a_zombie(
    slow_cancels, redis_client, redis_url
):
    """A batch that waited seconds for budget and was then accepted: a reconcile right after
    it (the standard account's cancels execute 200 ms later, the order still rests) must not
    call its cancels "accepted but never executed" and send them again. Seen on paper: three
    grids on one account logged cancel_unconfirmed right after their first fills."""
    simulator = slow_cancels
    async with _waiting_runner(
        simulator, simulator.create_account(), redis_client, redis_url
    ) as waiting:
        runner = waiting.runner
        sends = runner.sends
        # The grid moves: its replan (cancels and creates) waits for budget for 4 s and more.
        simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "3007.00"})
        simulator.advance(1000)
        await waiting.lease_kept(redis_client)

        async def sent() -> bool:
            return runner.sends > sends

        await wait_until(sent, what="the batch sent once the budget freed up")
        # The simulator's clock stands still: the cancels are accepted, not executed yet. The
        # runner reconciles now (as its periodic reconcile might, right after the send).
        runner.reconcile_due = True

        async def reconciled() -> bool:
            return not runner.reconcile_due and runner.idle

        await wait_until(reconciled, what="the reconcile after the send")
        kinds = await sync_to_async(list)(runner.bot.events.values_list("kind", flat=True))
        assert "cancel_unconfirmed" not in kinds
        simulator.advance(1000)
        await waiting.end()
