"""The hedge runner against the in-process simulator with two funded accounts (real SDK, real
Redis, real DB): A's maker fills are hedged on B and a full cycle leaves both accounts flat."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from bots.engine.hedge_runner import HedgeRunner, hedge_runner_create
from bots.engine.runner import run_runner
from bots.models import Fill, HedgeBot, Market
from tests.bots.runner_support import account_on, finish, sim_open_orders, wait_until
from tests.lighterweb.factories import make_hedge_bot

pytestmark = pytest.mark.django_db(transaction=True)

ETH = 0


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url


@pytest.fixture
def pair(simulator):
    maker_sim, taker_sim = simulator.create_account(), simulator.create_account()
    maker, taker = account_on(simulator, maker_sim), account_on(simulator, taker_sim)
    return maker_sim, taker_sim, maker, taker


def hedge_bot(maker, taker, **overrides) -> HedgeBot:
    market = Market.objects.get(network=maker.network, symbol="ETH")
    fields = {"size": Decimal("0.01"), "hold_min_ms": 50, "cycles": 1, "hedge_timeout_ms": 3000}
    bot = make_hedge_bot(maker, taker, market, **(fields | overrides))
    HedgeBot.objects.filter(pk=bot.pk).update(desired_state="running", lease_fence=1)
    bot.refresh_from_db()
    return bot


def sim_position(simulator, account_index: int) -> Decimal:
    def read() -> Decimal:
        state = simulator.engine.state
        account = state.accounts[account_index]
        position = account.positions.get(ETH)
        if position is None:
            return Decimal(0)
        return position.sign * state.markets[ETH].units.size(position.size)

    return simulator.call(read)


async def start(bot: HedgeBot) -> tuple[HedgeRunner, asyncio.Task[str]]:
    """The bot's runner as a task on the test's loop (the worker's top-level handling)."""
    runner = await hedge_runner_create(bot.pk, fence=1)
    return runner, asyncio.create_task(run_runner(runner))


async def fill_resting(simulator, account_index: int) -> None:
    """Move the price through A's resting order so it fills."""
    (order,) = sim_open_orders(simulator, account_index, ETH)
    price = simulator.call(lambda: simulator.engine.state.markets[ETH].units.price(order.price))
    target = price - Decimal("2") if not order.is_ask else price + Decimal("2")
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": str(target)})
    simulator.advance(1000)


async def test_a_full_cycle_leaves_both_accounts_flat(simulator, pair):
    maker_sim, taker_sim, maker, taker = pair
    bot = await sync_to_async(hedge_bot)(maker, taker)
    runner, task = await start(bot)

    await wait_until(
        lambda: _async(len(sim_open_orders(simulator, maker_sim.index, ETH)) == 1),
        what="A's opening order",
    )
    await fill_resting(simulator, maker_sim.index)
    await wait_until(
        lambda: _async(sim_position(simulator, taker_sim.index) == Decimal("-0.01")),
        what=lambda: (
            f"B hedged: A {sim_position(simulator, maker_sim.index)}, "
            f"B {sim_position(simulator, taker_sim.index)}, "
            f"state {runner.strategy.snapshot().state}"
        ),
    )
    await wait_until(
        lambda: _async(len(sim_open_orders(simulator, maker_sim.index, ETH)) == 1),
        what="A's closing order",
    )
    await fill_resting(simulator, maker_sim.index)

    assert await finish(task) == "stopped"
    assert sim_position(simulator, maker_sim.index) == 0
    assert sim_position(simulator, taker_sim.index) == 0
    fills = await sync_to_async(lambda: list(Fill.objects.filter(bot=bot)))()
    assert {f.account_id for f in fills} == {maker.pk, taker.pk}


async def _async(value: bool) -> bool:
    return value
