"""Emergency stop of everything, three paper bots trading on one standard account: figures.

    python bench/emergency_stop.py [--runs 5] [--warmup 65] [--fill-every 3]

Each run: a fresh standard-tier paper account with three grid bots (ETH, BTC, SOL, 10 orders
each) run as a `bots` worker runs them (the real runner with its lease, each on its own thread),
prices moving (GBM) and a taker trading against every grid about every `--fill-every` seconds;
plus one account whose exchange does not answer. After `--warmup` seconds (startup's burst of
requests leaves the rolling minute first, as it would in use) `services.emergency_stop_all` is
called while the bots trade. Printed per run and as p50/p95 over the runs:

- the call's answer time (it includes the unreachable account, bounded by its own timeout);
- the reachable account's verified answer, from the command to its read-back showing no order;
- orders the venue accepted for the account after the command (must be 0), and what was left
  resting (must be 0);
- the time until every bot's runner reported it stopped (its own cancels verified, the dead-man's
  switch released), and the requests of the account's budget spent from the command on (since
  2026-12-07: a standard account's operator share is 18 a minute, `exchange.budget`).

`--warmup 5` calls it while the three bots' start-up requests still fill the rolling minute
(the worst case: a trader who stops right after starting).

The simulator runs in this process (its order book is read directly to count orders) with
Lighter's rate limits on. Database: a throwaway SQLite file; Redis: the run's own
(`BENCH_REDIS_URL`, flushed, or an embedded one: never REDIS_URL's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.budget_use import SIM_CONFIG, _account_with_tier  # noqa: E402
from bench.grid_latency import SHAPES, BotThread, Takers, setup_django, take  # noqa: E402
from bench.simkit import pct, start_bench_redis  # noqa: E402
from exchange.budget import RequestBudget  # noqa: E402

T = TypeVar("T")


class Simulator:
    """The simulator on its own thread and loop in this process (rate limits on)."""

    def __init__(self) -> None:
        from exchange.simulator.config import SimConfig
        from exchange.simulator.server import SimServer

        self.loop = asyncio.new_event_loop()
        self.server = SimServer(SimConfig.from_dict(SIM_CONFIG), rate_limits=True)
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.port = self.loop.run_until_complete(self.server.start("127.0.0.1", 0))
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, name="sim", daemon=True)
        self.thread.start()
        assert ready.wait(30)
        self.base_url = f"http://127.0.0.1:{self.port}"

    def call(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def orders(self, account_index: int) -> tuple[set[int], int]:
        """Every order the venue ever accepted for the account, and how many rest now."""

        def read() -> tuple[set[int], int]:
            state = self.server.engine.state
            every = {
                o.order_index
                for o in state.all_orders.values()
                if o.owner_account_index == account_index
            }
            return every, len(state.account_live.get(account_index, {}))

        return self.call(read)


class LeasedBot(BotThread):
    """A bot thread whose runner holds a real lease, renewed by its loop (as in a worker)."""

    def __init__(self, bot_id: int, redis_url: str) -> None:
        self.redis_url = redis_url
        super().__init__(bot_id)

    async def _run(self) -> None:
        from asgiref.sync import sync_to_async

        from bench.grid_latency import Timed
        from bots.engine.leases import BotLease, fence_claim, fence_floor
        from bots.engine.runner import run_runner, runner_create
        from exchange.redis_clients import redis_client

        self._loop = asyncio.get_running_loop()
        lease = BotLease(redis_client(self.redis_url), self.bot_id)
        # As the worker's task does: a fence above the row's, claimed on the row.
        fence = lease.acquire(floor=await sync_to_async(fence_floor)(self.bot_id))
        assert fence is not None and await sync_to_async(fence_claim)(self.bot_id, fence)
        self.runner = await runner_create(self.bot_id, fence=fence, lease=lease)
        self.timer = Timed(self.runner)
        self._task = asyncio.current_task()
        self.ready.set()
        try:
            await run_runner(self.runner)
        finally:
            lease.release()


def make_run(base_url: str) -> tuple[int, list[int]]:
    """A standard account with three running-desired bots, and an unreachable account."""
    from bots import services
    from bots.models import ExchangeAccount, GridBot, Market

    index, l1, key = _account_with_tier(base_url, "standard")
    account = ExchangeAccount(
        name=f"stop-{index}", base_url_override=base_url, tier="standard",
        account_index=index, api_key_index=3, l1_address=l1,
    )  # fmt: skip
    account.set_api_private_key(key)
    account.save()
    if not Market.objects.exists():
        services.markets_sync(account)
    with contextlib.suppress(Exception):
        dead = ExchangeAccount(
            name=f"unreachable-{index}", base_url_override="http://127.0.0.1:9",
            account_index=10**6 + index, api_key_index=3, l1_address="0x" + "9" * 40,
        )  # fmt: skip
        dead.set_api_private_key("0x" + "1" * 80)
        dead.save()
    ids = []
    for symbol in ("ETH", "BTC", "SOL"):
        step, size = SHAPES[symbol]
        bot = GridBot(
            name=f"stop-{symbol}-{index}", account=account,
            market=Market.objects.get(network="paper", symbol=symbol),
            step=step, size=size, levels_per_side=5, max_open_orders=10,
            max_position_notional=Decimal("1000000"), leverage=Decimal("5"),
        )  # fmt: skip
        bot.full_clean()
        bot.save()
        GridBot.objects.filter(pk=bot.pk).update(desired_state="running")
        ids.append(bot.pk)
    return index, ids


async def one_run(sim: Simulator, redis_url: str, warmup: float, fill_every: float) -> dict:
    from asgiref.sync import sync_to_async

    from bots import services

    index, bot_ids = await sync_to_async(make_run)(sim.base_url)
    bots = [LeasedBot(bot_id, redis_url) for bot_id in bot_ids]
    try:
        deadline = time.monotonic() + 60
        while not all(b.ready.is_set() and b.runner.strategy.state for b in bots):
            if time.monotonic() > deadline:
                raise RuntimeError("the grids did not come up in time")
            await asyncio.sleep(0.1)
        taker = _account_with_tier(sim.base_url, "premium")
        stop = asyncio.Event()
        runners = [b.runner for b in bots]
        # The taker trades from a process of its own, as in bench/grid_latency.py (whose `take`
        # this bench missed when it moved there, 2026-12-06: the bench failed until 2026-12-07).
        process = await asyncio.to_thread(Takers, sim.base_url, redis_url, [taker])
        takers = asyncio.create_task(take(process, 0, runners, stop, fill_every, together=False))
        await asyncio.sleep(warmup)
        before, resting_before = sim.orders(index)
        budget = await _budget(redis_url, index)
        since_ms = await budget.now_ms()
        started = time.monotonic()
        watch = asyncio.create_task(_all_stopped(bot_ids, started))
        report = await sync_to_async(services.emergency_stop_all)(actor="bench")
        answered = time.monotonic() - started
        stopped = await watch
        await asyncio.sleep(3)  # the takers trade on; the stopped bots must not place again
        stop.set()
        await takers
        await asyncio.to_thread(process.close)
        after, resting = sim.orders(index)
        ours = await sync_to_async(_account_id)(index)
        reachable = next(r for r in report.cancels if r.account_id == ours)
        unreachable = [r for r in report.cancels if r.account_id != ours]
        result = {
            "answered": answered,
            "account": reachable.seconds,
            "verified": reachable.verified,
            "created": len(after - before),
            "resting_before": resting_before,
            "resting": resting,
            "unreachable_reported": all(r.error for r in unreachable) and bool(unreachable),
            "stopped": stopped,
            "spent": await budget.granted_since(since_ms),
        }
        await budget.redis.aclose()
        return result
    finally:
        await asyncio.gather(*(asyncio.to_thread(b.stop) for b in bots))
        await sync_to_async(_retire)()


async def _all_stopped(bot_ids: list[int], started: float) -> float | None:
    """Seconds from the command until every bot's runner reported it stopped (None: not within
    90 s)."""
    from asgiref.sync import sync_to_async

    from bots.models import GridBot

    def statuses() -> set[str]:
        return set(GridBot.objects.filter(pk__in=bot_ids).values_list("status", flat=True))

    while time.monotonic() - started < 90:
        # Not on asgiref's one shared thread: the emergency stop's call holds it meanwhile.
        if await sync_to_async(statuses, thread_sensitive=False)() == {"stopped"}:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    return None


async def _budget(redis_url: str, index: int) -> RequestBudget:
    """The standard account's request budget (its own Redis client, on the run's loop)."""
    from asgiref.sync import sync_to_async

    from bots.models import ExchangeAccount
    from exchange.redis_clients import async_redis_client

    account = await sync_to_async(ExchangeAccount.objects.get)(account_index=index)
    return RequestBudget(async_redis_client(redis_url), account.budget_key, "standard")


def _account_id(index: int) -> int:
    from bots.models import ExchangeAccount

    return int(ExchangeAccount.objects.get(account_index=index).pk)


def _retire() -> None:
    """This run's accounts take no part in the next run's emergency stop (no key index)."""
    from bots.models import ExchangeAccount

    ExchangeAccount.objects.update(api_key_index=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=65.0)
    parser.add_argument("--fill-every", type=float, default=3.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    redis_url, embedded = start_bench_redis()
    from exchange.redis_clients import redis_client

    redis_client(redis_url).flushdb()
    sim = Simulator()
    setup_django(redis_url)
    logging.getLogger("bots").setLevel(logging.ERROR)
    results = []
    try:
        for n in range(args.runs):
            result = asyncio.run(one_run(sim, redis_url, args.warmup, args.fill_every))
            results.append(result)
            print(f"run {n + 1}: call answered in {result['answered']:.2f} s, account verified "
                  f"{result['verified']} in {result['account']:.2f} s, every bot stopped in "
                  f"{_seconds(result['stopped'])}, {result['spent']} requests of the account's "
                  f"budget spent from the command on "
                  f"({result['resting_before']} resting before); orders created after the "
                  f"command: {result['created']}, left resting: {result['resting']}; "
                  f"unreachable account reported on its own: {result['unreachable_reported']}",
                  flush=True)  # fmt: skip
    finally:
        sim.loop.call_soon_threadsafe(sim.loop.stop)
        if embedded is not None:
            embedded.stop()
    answered = [r["answered"] for r in results]
    account = [r["account"] for r in results]
    print(f"{len(results)} runs: reachable account verified p50 {pct(account, 0.5):.2f} s, "
          f"p95 {pct(account, 0.95):.2f} s; whole call (with the unreachable account) "
          f"p50 {pct(answered, 0.5):.2f} s, p95 {pct(answered, 0.95):.2f} s; orders created "
          f"after the command: {sum(r['created'] for r in results)}; left resting: "
          f"{sum(r['resting'] for r in results)}")  # fmt: skip
    stopped = [r["stopped"] for r in results if r["stopped"] is not None]
    spent = [float(r["spent"]) for r in results]
    print(
        f"  every bot stopped: p50 {_seconds(pct(stopped, 0.5) if stopped else None)}, max "
        f"{_seconds(max(stopped) if stopped else None)} ({len(results) - len(stopped)} runs "
        f"not within 90 s); requests spent: p50 {pct(spent, 0.5):.0f}, max {max(spent):.0f}"
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


if __name__ == "__main__":
    main()
