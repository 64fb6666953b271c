"""Shared setup of the runner tests: a simulator account as an ExchangeAccount, grid bots on it,
the runner driven in-process, and a bounded wait on a condition."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async

from bots import services
from bots.engine.runner import BotRunner, run_bot, run_runner, runner_create
from bots.models import Bot, BotEvent, ExchangeAccount, GridBot, Market
from exchange.budget import ROUTINE, RequestBudget, budget_name
from exchange.execution import ExecutionApi
from tests.lighterweb.factories import make_account, make_bot

# Per-market settings a test grid uses: (step, size) near the simulator's default prices.
GRID_SHAPES: dict[str, dict[str, Decimal]] = {
    "ETH": {"step": Decimal("5"), "size": Decimal("0.01"), "cap": Decimal("1000")},
    "BTC": {"step": Decimal("100"), "size": Decimal("0.0002"), "cap": Decimal("1000")},
    "SOL": {"step": Decimal("0.5"), "size": Decimal("0.1"), "cap": Decimal("1000")},
}


def account_on(simulator: Any, sim_account: Any, *, tier: str = "premium") -> ExchangeAccount:
    """An ExchangeAccount for a funded simulator account, with its markets synced."""
    account = make_account(
        base_url_override=simulator.base_url,
        tier=tier,
        account_index=sim_account.index,
        api_key_index=sim_account.api_key_index,
        l1_address=sim_account.l1_address,
    )
    account.set_api_private_key(sim_account.private_key)
    account.save()
    services.markets_sync(account)
    return account


def grid_bot(
    account: ExchangeAccount, symbol: str, *, levels: int = 5, **overrides: Any
) -> GridBot:
    """A running-desired grid bot on `symbol` whose lease fence is 1."""
    shape = GRID_SHAPES[symbol]
    market = Market.objects.get(network=account.network, symbol=symbol)
    fields: dict[str, Any] = {
        "step": shape["step"],
        "size": shape["size"],
        "levels_per_side": levels,
        "max_open_orders": 2 * levels,
        "max_position_notional": shape["cap"],
        "leverage": Decimal("5"),
    }
    fields |= overrides
    bot = make_bot(account, market, **fields)
    GridBot.objects.filter(pk=bot.pk).update(desired_state="running", lease_fence=1)
    bot.refresh_from_db()
    return bot


def set_desired(bot: GridBot, state: str) -> None:
    GridBot.objects.filter(pk=bot.pk).update(desired_state=state)


async def wait_until(
    condition: Callable[[], Awaitable[bool]],
    timeout_s: float = 20.0,
    what: str | Callable[[], str] = "condition",
) -> None:
    """Re-check `condition` on every loop turn of the runner until it holds or time runs out."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting for {what if isinstance(what, str) else what()}"
            )
        await asyncio.sleep(0.02)


def start_runner(bot_id: int, fence: int = 1) -> asyncio.Task[str]:
    """The runner of one bot as a task on the test's loop."""
    return asyncio.create_task(run_bot(bot_id, fence=fence))


async def start_runners(
    bots: list[GridBot], fence: int = 1
) -> tuple[list[BotRunner], list[asyncio.Task[str]]]:
    """Runners of several bots, started as tasks on the test's loop (so tests can read them)."""
    runners = [await runner_create(bot.pk, fence=fence) for bot in bots]
    return runners, [asyncio.create_task(run_runner(r)) for r in runners]


def quiet(runner: BotRunner, simulator: Any) -> bool:
    """The runner waits for events with none queued and has seen the simulator's latest book."""
    if not runner.idle or not runner.events.empty() or runner.strategy.state is None:
        return False
    view = runner.market_view()
    return view is not None and view.mid == sim_mid(simulator, runner.market_id)


async def wait_full_grid(
    runner: BotRunner,
    simulator: Any,
    account_index: int,
    resting: int,
    *,
    market_id: int | None = None,
    timeout_s: float = 20.0,
) -> None:
    """Wait until the runner is quiet and the account has exactly `resting` orders on the market."""
    market = runner.market_id if market_id is None else market_id

    async def full() -> bool:
        if not quiet(runner, simulator):
            return False
        return len(sim_open_orders(simulator, account_index, market)) == resting

    await wait_until(full, timeout_s=timeout_s, what=f"{resting} resting orders")


async def full_eth_grid(
    simulator: Any, sim_account: Any, *, tier: str = "premium", levels: int = 3, **overrides: Any
) -> tuple[ExchangeAccount, GridBot, BotRunner, asyncio.Task[str]]:
    """One ETH grid (`levels` a side, the bot's `overrides`) on the account, running until its
    orders all rest and it is quiet: (account, bot, runner, the runner's task)."""
    account = await sync_to_async(account_on)(simulator, sim_account, tier=tier)
    bot = await sync_to_async(grid_bot)(account, "ETH", levels=levels, **overrides)
    (runner,), (task,) = await start_runners([bot])
    await wait_full_grid(runner, simulator, sim_account.index, 2 * levels)
    return account, bot, runner, task


def sim_mid(simulator: Any, market_id: int) -> Decimal:
    """Mid of the simulator's book (the price the bots see), in quote."""

    def read() -> Decimal:
        state = simulator.engine.state
        book, units = state.books[market_id], state.markets[market_id].units
        bid = book.side(is_ask=False).best_price()
        ask = book.side(is_ask=True).best_price()
        return (units.price(bid) + units.price(ask)) / 2

    return simulator.call(read)


async def finish(task: asyncio.Task[str], timeout_s: float = 30.0) -> str:
    """Wait for a runner task to end (after a stop) and return its final status."""
    return await asyncio.wait_for(task, timeout_s)


def sim_open_orders(simulator: Any, account_index: int, market_id: int) -> list[Any]:
    """Open orders of an account on a market, read from the simulator's engine."""

    def read() -> list[Any]:
        live = simulator.engine.state.account_live.get(account_index, {})
        return [o for o in live.values() if o.market_id == market_id]

    return simulator.call(read)


def sim_position(simulator: Any, account_index: int, market_id: int) -> int:
    """An account's position on a market in the simulator's engine (signed base units)."""

    def read() -> int:
        pos = simulator.engine.state.accounts[account_index].positions.get(market_id)
        return 0 if pos is None else pos.size

    return simulator.call(read)


async def routine_lane_fill(redis_url: str, account: ExchangeAccount) -> aioredis.Redis:
    """Fill the routine lane of the account's request budget for its minute, as other bots'
    and refreshes' traffic would (a standard account); returns the Redis client to close."""
    client = aioredis.Redis.from_url(redis_url)
    index = account.account_index
    others = RequestBudget(client, budget_name(account.l1_address, index), "standard")
    while (await others.try_acquire(lane=ROUTINE)).granted:
        pass
    return client


# How long `close_position` waits for its order's end from the stream before asking REST.
CLOSE_TICKET_TIMEOUT_S: float = (
    inspect.signature(ExecutionApi.close_position).parameters["timeout_s"].default
)


async def seconds_between(bot: Bot, first: str, then: str) -> float:
    """Seconds from the bot's first event of kind `first` to its first of kind `then`."""

    def read() -> float:
        times = {}
        for kind in (first, then):
            event = BotEvent.objects.filter(bot=bot, kind=kind).order_by("id").first()
            assert event is not None, f"no {kind} event"
            times[kind] = event.created_at
        return (times[then] - times[first]).total_seconds()

    result: float = await sync_to_async(read)()
    return result
