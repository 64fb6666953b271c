"""Grid bot latency and capacity against the simulator (latency 0). Prints figures.

    python bench/grid_latency.py [--single-seconds 20] [--bots 3,12,24,48] [--seconds 15]
                                 [--fill-every 1.0] [--jitter-seconds 0] [--jitter-bots 12]
                                 [--jitter-every 0.05] [--venue-verifies] [--keep-gc]

- fill -> replenish accepted, p50/p99: one ETH grid bot (the real runner: stream, fenced DB
  writes, intents before the send, one sendTxBatch per plan); a taker account trades against
  the grid's nearest order with an IOC, alternating sides, and the runner's time from seeing the
  fill to the 200 of the batch that replenishes it is measured (no taker time included);
- CPU per fill: the CPU time of the runners' own threads (bot loops, their DB threads, their
  signers, the push sender, the shared market feeds, the alerts' dispatcher, `to_thread`'s
  workers: every thread but the bench's main one) over the fills of each run, i.e. what a
  fill costs a bots worker, with the fill rate reached; and this process's CPU time per fill
  (an upper bound). Also in *reference units*: divided by the median CPU time of a fixed piece
  of runner-like Python, timed every 0.3 s during the run by a process of its own
  (`bench.simkit.ReferenceSampler`), a figure that compares across runs and days on a VM whose
  speed drifts;
- garbage collector: Python's cyclic collections during each run, young and full, and the
  longest (each holds the interpreter lock: every bot waits it out); after the run, how many
  objects a full collection walks and how many of them the bots' ticket books hold. The bench
  freezes the startup's objects once Django is up, with the runner and the SDK imported first,
  as a bots worker does when it is ready (`lighterweb.heap`); `--keep-gc` leaves them to the
  collector, as until 2026-12-07 (from then until the third session that day the runner and
  the SDK were imported after the freeze, with the first bot);
- a jittering book (`--jitter-seconds`, off by default): N grids (`--jitter-bots`) with nothing
  to do while another account places and cancels a small bid inside their spread on each
  market, one change every `--jitter-every` seconds per market: the best bid moves, no grid's
  plan can. Prints the runners' own CPU per second and per book change (what a live market's
  ticks cost a worker while its grids wait for a fill);
- capacity: N bots (3 markets per account, N/3 accounts) in this one process, each receiving a
  fill about every `--fill-every` seconds (1 by default: a stress load), twice: with fills at
  independent random moments (markets moving on their own) and with every bot filled in the
  same sweep (a market-wide move, the worst case); prints the same latency percentiles per N and
  run, and this process's RSS.

Each bot runs as a `bots` worker runs it (`run_bot_task`): on its own thread with its own event
loop and its own DB thread and connection.

The simulator runs in a child process, and so do the takers (one account per 6 bots): a bots
worker holds no counterparties, and takers sharing its interpreter lock would be counted in its
latency (until 2026-12-06 they ran in this process). Each line prints the CPU share each took.
The simulator does not check the transactions' signatures unless `--venue-verifies` is given:
Lighter checks them on its own machines, while the simulator's pure-Python check costs it about
17 ms of CPU a fill on this VM, fills its core at 48 fills a second and then puts its own queue
into the latency measured (as it did from 2026-12-05 to 2026-12-07). The runners still sign
every transaction with the SDK's signer, and that is counted in their CPU.
The jittering book's account still runs in this process. The database is a throwaway
SQLite file, or the PostgreSQL database of DATABASE_URL (postgres://...; create a fresh one and
drop it after). Redis is the run's own (`BENCH_REDIS_URL` or an embedded one: never REDIS_URL's).
DEBUG is off, as in a worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import logging
import os
import random
import sys
import tempfile
import threading
import time
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.simkit import (  # noqa: E402
    ReferenceSampler,
    create_account,
    pct,
    start_as_a_worker,
    start_bench_redis,
    start_simulator,
)

SYMBOLS = {"ETH": 0, "BTC": 1, "SOL": 2}
# Bots per taker account.
TAKER_SHARE = 6
# Steps and sizes per market; the simulator's own liquidity sits 3 % away so only the grid
# and the taker trade, and the book always has a mid.
SHAPES = {
    "ETH": (Decimal("5"), Decimal("0.01")),
    "BTC": (Decimal("100"), Decimal("0.0002")),
    "SOL": (Decimal("0.5"), Decimal("0.1")),
}
SIM_CONFIG: dict[str, Any] = {
    "seed": 1,
    "latency_ms": 0,
    "price_paths": {"0": {"kind": "flat"}, "1": {"kind": "flat"}, "2": {"kind": "flat"}},
    "liquidity": {
        "enabled": True,
        "levels": 2,
        "step_bps": 100,
        "first_offset_bps": 300,
        "size_quote": "100000",
    },
    "funding_enabled": False,
    "rate_limits": {"enabled": False},
}


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _stat_cpu_s(stat_path: str) -> float:
    """CPU seconds (user + system) from a /proc stat file (0 when it is gone)."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        stat = Path(stat_path).read_text()
    except FileNotFoundError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick


def _thread_cpu_s(native_id: int) -> float:
    """CPU seconds of one thread of this process (Linux /proc)."""
    return _stat_cpu_s(f"/proc/self/task/{native_id}/stat")


def _process_cpu_s(pid: int) -> float:
    """CPU seconds of another process (Linux /proc)."""
    return _stat_cpu_s(f"/proc/{pid}/stat")


class GcPauses:
    """Python's cyclic garbage collections during a run: each holds the interpreter lock, so
    every bot of the process waits it out (`lighterweb.heap`)."""

    def __init__(self) -> None:
        self._started = 0.0
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        gc.callbacks.append(self._on_collect)

    def _on_collect(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append(time.perf_counter() - self._started)

    def stop(self) -> str:
        gc.callbacks.remove(self._on_collect)
        every = [p for ps in self.pauses.values() for p in ps]
        young = len(self.pauses[0]) + len(self.pauses[1])
        return (
            f"garbage collector: {young} young and {len(self.pauses[2])} full collections, "
            f"{1000 * sum(every):.0f} ms in all, the longest {1000 * max(every, default=0):.1f} ms"
        )


class RunnerCpu:
    """CPU of the runners' own threads: each bot's loop thread and DB thread, their signers,
    the push sender, the shared market feeds, the alerts' dispatcher and the worker threads
    `asyncio.to_thread` uses, i.e. every thread of this process but the main one (the bench's
    own). The takers and the simulator run in processes of their own: this is what a fill costs
    a bots worker.

    With `new_threads` (the capacity runs) a thread that starts during the run counts too (a
    `to_thread` worker). Until 2026-12-07 the bench counted only named runner threads running at
    its start, which left out the alerts' dispatcher and `to_thread`'s workers (a send's lease
    renewal ran on one). A runner signs in place on its loop thread (`Signer.sign_all`), so
    "signer" stays 0 here. Without `new_threads` (the jittering book, whose own account signs on
    a signer thread of this process) only the threads running at the start count.
    """

    KINDS = ("loop", "db", "signer", "sender", "feed", "alerts", "workers", "other")

    def __init__(self, *, new_threads: bool = True) -> None:
        self._new_threads = new_threads
        self._fixed = set(self._kinds())
        self._start = self._now()

    @staticmethod
    def _kind(name: str) -> str | None:
        prefixes = (
            ("bot-", "loop"), ("signer", "signer"), ("lw-broadcast", "sender"),
            ("lw-markets", "feed"), ("lw-notify", "alerts"), ("asyncio_", "workers"),
        )  # fmt: skip
        if name == "MainThread":
            return None
        for prefix, kind in prefixes:
            if name.startswith(prefix):
                return "db" if kind == "loop" and "-db" in name else kind
        return "other"

    def _kinds(self) -> dict[int, str]:
        """Native thread id -> kind, for the threads of this process now (threads Python did
        not start, e.g. the Go signer's runtime, are "other")."""
        names = {t.native_id: t.name for t in threading.enumerate()}
        kinds: dict[int, str] = {}
        for entry in os.listdir("/proc/self/task"):
            kind = self._kind(names.get(int(entry), ""))
            if kind is not None:
                kinds[int(entry)] = kind
        return kinds

    def _now(self) -> dict[int, tuple[str, float]]:
        spent: dict[int, tuple[str, float]] = {}
        for native_id, kind in self._kinds().items():
            if not self._new_threads and native_id not in self._fixed:
                continue
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                spent[native_id] = (kind, _thread_cpu_s(native_id))
        return spent

    def _spent(self) -> dict[str, float]:
        """CPU seconds by kind since this object was made (a thread that ended in between is
        lost; the runners' threads live through the run)."""
        by_kind = dict.fromkeys(self.KINDS, 0.0)
        for native_id, (kind, cpu_s) in self._now().items():
            before = self._start.get(native_id)
            by_kind[kind] += cpu_s - (before[1] if before is not None else 0.0)
        return by_kind

    def spent_ms(self) -> float:
        """Runner CPU milliseconds since this object was made."""
        return 1000 * sum(self._spent().values())

    def per_fill_ms(self, fills: int) -> float:
        """Runner CPU milliseconds per fill since this object was made."""
        return self.spent_ms() / max(fills, 1)

    def split(self, fills: int) -> str:
        """The same per fill by kind of thread (kinds with nothing spent left out)."""
        spent = self._spent()
        return ", ".join(
            f"{kind} {1000 * cpu_s / max(fills, 1):.1f}"
            for kind, cpu_s in spent.items()
            if cpu_s > 0 or kind in ("loop", "db", "signer")
        )


class CpuShare:
    """CPU seconds used by this process (the runners) and the simulator child since the last
    report, as a share of the wall time: the bench's own load on a small machine."""

    def __init__(self, child_pid: int) -> None:
        self._child = child_pid
        self._last = (time.monotonic(), *self._cpu())

    def _cpu(self) -> tuple[float, float]:
        return time.process_time(), _process_cpu_s(self._child)

    def report(self, fills: int) -> str:
        """CPU share of this process and of the simulator since the previous report, and this
        process's CPU per fill (the runners' threads and everything else of the process, the
        bots' start included: an upper bound of the runners' cost)."""
        now, own, child = time.monotonic(), *self._cpu()
        then, own0, child0 = self._last
        self._last = (now, own, child)
        wall = max(now - then, 1e-9)
        per_fill = 1000 * (own - own0) / max(fills, 1)
        return (
            f"CPU: this process {100 * (own - own0) / wall:.0f} %, "
            f"simulator {100 * (child - child0) / wall:.0f} % of one core; "
            f"{per_fill:.1f} ms of CPU per fill (this process)"
        )


def setup_django(redis_url: str) -> str:
    """Django on a throwaway SQLite database (or DATABASE_URL when it is PostgreSQL), migrated.

    Returns the database engine's name for the printout.
    """
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        db_path = Path(tempfile.mkdtemp(prefix="grid-bench-")) / "db.sqlite3"
        os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ["REDIS_URL"] = redis_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lighterweb.settings")
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    # DEBUG keeps every query in memory and wraps every cursor: not what a worker runs with.
    settings.DEBUG = False
    call_command("migrate", verbosity=0)
    # Every plan and fill is an INFO line; printing them would be part of what is measured.
    for name in ("bots", "exchange", "aiohttp"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from django.db import connection

    return str(connection.vendor)


def make_bots(base_url: str, count: int) -> list[tuple[int, tuple[int, str, str]]]:
    """`count` running-desired grid bots, one per (account, market), fence 1.

    Returns (bot id, simulator account) pairs.
    """
    from bots import services
    from bots.models import ExchangeAccount, GridBot, Market

    made: list[tuple[int, tuple[int, str, str]]] = []
    for n in range(count):
        symbol = list(SYMBOLS)[n % len(SYMBOLS)]
        if n % len(SYMBOLS) == 0:
            sim_account = create_account(base_url)
            index, l1, key = sim_account
            account = ExchangeAccount(
                name=f"bench-{index}", base_url_override=base_url, tier="premium",
                account_index=index, api_key_index=3, l1_address=l1,
            )  # fmt: skip
            account.set_api_private_key(key)
            account.save()
            if n == 0:
                services.markets_sync(account)
        step, size = SHAPES[symbol]
        bot = GridBot(
            name=f"bench-{symbol}-{n}", account=account,
            market=Market.objects.get(network="paper", symbol=symbol),
            step=step, size=size, levels_per_side=5, max_open_orders=10,
            max_position_notional=Decimal("1000000"), leverage=Decimal("5"),
        )  # fmt: skip
        bot.full_clean()
        bot.save()
        GridBot.objects.filter(pk=bot.pk).update(desired_state="running", lease_fence=1)
        made.append((bot.pk, sim_account))
    return made


class Timed:
    """Wraps a runner: from the arrival of the first report of a fill of one of its orders (order
    update or fill event, whichever comes first, as the stream hands it to the runner's queue)
    to the 200 of the next batch sent, in milliseconds."""

    def __init__(self, runner: Any) -> None:
        from exchange.streams import FillEvent, OrderUpdate

        self.samples: list[float] = []
        self.fills = 0
        self._fill_at: float | None = None
        seen: set[int] = set()
        enqueue = runner.events.put_nowait

        def timed_enqueue(item: Any) -> None:
            arrived = time.perf_counter()
            event = item[1] if isinstance(item, tuple) else item  # (leg, stream event)
            traded: list[int] = []
            if isinstance(event, OrderUpdate):
                traded = [o.client_order_index for o in event.orders if o.filled_size > 0]
            elif isinstance(event, FillEvent) and not event.is_snapshot:
                traded = [f.client_order_index for f in event.fills]
            fresh = [i for i in traded if i in runner.orders.live and i not in seen]
            seen.update(fresh)
            if fresh:
                self.fills += len(fresh)
                if self._fill_at is None:
                    self._fill_at = arrived
            enqueue(item)

        def accepted(_indexes: list[int]) -> None:
            if self._fill_at is not None:
                self.samples.append((time.perf_counter() - self._fill_at) * 1000)
                self._fill_at = None

        runner.events.put_nowait, runner.on_accepted = timed_enqueue, accepted


def _taker_main(conn: Any, base_url: str, redis_url: str, accounts: list[Any]) -> None:
    """The takers' process: one client per taker account, an IOC for every order received."""
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_takers_serve(conn, base_url, redis_url, accounts))


async def _takers_serve(conn: Any, base_url: str, redis_url: str, accounts: list[Any]) -> None:
    from exchange.client import LighterClient
    from exchange.types import OrderSide

    loop = asyncio.get_running_loop()
    # One queue per taker account, its orders sent one after the other (as one trader would).
    queues: list[asyncio.Queue[Any]] = [asyncio.Queue() for _ in accounts]

    def received() -> None:
        order = conn.recv()
        for n, queue in enumerate(queues):
            if order is None or order[0] == n:
                queue.put_nowait(order)

    async def send(client: Any, queue: asyncio.Queue[Any]) -> None:
        ids = itertools.count(2)
        while (order := await queue.get()) is not None:
            _, market_id, buy, size, price = order
            side = OrderSide.BUY if buy else OrderSide.SELL
            try:
                await client.place_order(market_id, side, size, price, next(ids), ioc=True)
            except Exception as exc:  # a taker's failure is the bench's, printed, not fatal
                print(f"taker order failed: {exc}", file=sys.stderr)

    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                LighterClient(
                    base_url,
                    account_index=index,
                    api_key_index=3,
                    api_private_key=key,
                    l1_address=l1,
                    redis_url=redis_url,
                    tier="premium",
                    per_minute=10**9,
                )
            )
            for index, l1, key in accounts
        ]
        loop.add_reader(conn.fileno(), received)
        conn.send("ready")
        await asyncio.gather(*(send(c, q) for c, q in zip(clients, queues, strict=True)))
    conn.send("done")


class Takers:
    """The takers in a process of their own (a bots worker holds no counterparties): one
    account per `TAKER_SHARE` bots, sending an IOC for every order `send` hands over."""

    def __init__(self, base_url: str, redis_url: str, accounts: list[Any]) -> None:
        import multiprocessing

        spawn = multiprocessing.get_context("spawn")
        self._conn, child_conn = spawn.Pipe()
        self.process = spawn.Process(
            target=_taker_main, args=(child_conn, base_url, redis_url, accounts), daemon=True
        )
        self.process.start()
        if not self._conn.poll(60) or self._conn.recv() != "ready":
            raise RuntimeError("the takers' process did not start")
        self._cpu_start = self.cpu_s()

    def send(self, account: int, market_id: int, buy: bool, size: Decimal, price: Decimal) -> None:
        self._conn.send((account, market_id, buy, size, price))

    def cpu_s(self) -> float:
        assert self.process.pid is not None
        return _process_cpu_s(self.process.pid)

    def close(self) -> float:
        """End the process once its orders are out; returns the CPU seconds it used."""
        spent = self.cpu_s() - self._cpu_start
        self._conn.send(None)
        if self._conn.poll(30):
            self._conn.recv()
        self.process.join(10)
        return spent


async def take(
    takers: Takers,
    account: int,
    runners: list[Any],
    stop: asyncio.Event,
    period_s: float,
    together: bool,
) -> None:
    """Trade against each runner's nearest order with an IOC about every `period_s`, sides
    alternating: all runners in one sweep (`together`, a market-wide move), or each at its own
    random moments (exponential gaps, mean `period_s`: markets moving independently). The
    orders go out from the takers' process, through the taker `account`."""

    def hit(runner: Any, n: int) -> None:
        view = runner.market_view()
        if view is None or runner.strategy.state is None:
            return
        buy = bool(n % 2)
        step, size = SHAPES[runner.symbol]
        # Through the nearest grid order but short of the simulator's far liquidity.
        price = view.mid + step * 2 if buy else view.mid - step * 2
        takers.send(account, runner.market_id, buy, size, price)

    async def pause(seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await stop.wait()

    async def alone(runner: Any) -> None:
        rng = random.Random(runner.bot.pk)
        n = 0
        while not stop.is_set():
            await pause(rng.expovariate(1 / period_s))
            n += 1
            if not stop.is_set():
                hit(runner, n)

    if not together:
        await asyncio.gather(*(alone(r) for r in runners))
        return
    n = 0
    while not stop.is_set():
        n += 1
        for runner in runners:
            hit(runner, n)
        await pause(period_s)


class BotThread:
    """One bot as a `bots` worker runs it: its own thread and event loop (`asyncio.run`), under
    its lease (until 2026-12-06 the bench's runners ran without one, so no lease check before a
    send was counted)."""

    def __init__(self, bot_id: int) -> None:
        self.bot_id = bot_id
        self.ready = threading.Event()
        self.runner: Any = None
        self.timer: Timed | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self.thread = threading.Thread(target=self._main, name=f"bot-{bot_id}", daemon=True)
        self.thread.start()

    def _main(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(self._run())

    async def _run(self) -> None:
        from asgiref.sync import sync_to_async
        from django.conf import settings

        from bots.engine.leases import BotLease, fence_claim, fence_floor, lease_ttl_seconds
        from bots.engine.runner import run_runner, runner_create
        from exchange.redis_clients import redis_client

        self._loop = asyncio.get_running_loop()
        # Under its lease, as `run_bot_task` runs it: the runner checks it before every send.
        lease = BotLease(redis_client(settings.REDIS_URL), self.bot_id, ttl_s=lease_ttl_seconds())
        fence = lease.acquire(floor=await sync_to_async(fence_floor)(self.bot_id))
        if fence is None or not await sync_to_async(fence_claim)(self.bot_id, fence):
            raise RuntimeError(f"bot {self.bot_id}: lease not taken")
        self.runner = await runner_create(self.bot_id, fence=fence, lease=lease)
        self.timer = Timed(self.runner)
        self._task = asyncio.current_task()
        self.ready.set()
        await run_runner(self.runner)

    def stop(self) -> None:
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing to stop
                self._loop.call_soon_threadsafe(self._task.cancel)
        self.thread.join(30)


async def bots_up(base_url: str, count: int) -> list[BotThread]:
    """`count` grid bots running, each with its full ladder resting."""
    from asgiref.sync import sync_to_async

    made = await sync_to_async(make_bots)(base_url, count)
    bots = [BotThread(bot_id) for bot_id, _ in made]
    deadline = time.monotonic() + 30 + 2 * count
    while not all(
        b.ready.is_set() and b.runner.strategy.state and len(b.runner.orders.live) == 10
        for b in bots
    ):
        if time.monotonic() > deadline:
            await asyncio.gather(*(asyncio.to_thread(b.stop) for b in bots))
            raise RuntimeError(f"{count} grids did not come up in time")
        await asyncio.sleep(0.1)
    return bots


async def jitter(base_url: str, redis_url: str, count: int, seconds: float, every_s: float) -> str:
    """`count` grids with nothing to do while a bid inside their spread comes and goes on each
    market every `every_s`; returns the line with the runners' own CPU."""
    from exchange.client import LighterClient
    from exchange.types import OrderSide

    bots = await bots_up(base_url, count)
    try:
        runners = [b.runner for b in bots]
        by_market = {r.market_id: r for r in runners}
        index, l1, key = create_account(base_url)
        changes = 0
        async with LighterClient(
            base_url, account_index=index, api_key_index=3, api_private_key=key, l1_address=l1,
            redis_url=redis_url, tier="premium", per_minute=10**9,
        ) as client:  # fmt: skip
            ids = itertools.count(2)
            resting: dict[int, int] = {}
            runner_cpu = RunnerCpu(new_threads=False)
            started = time.monotonic()
            while time.monotonic() - started < seconds:
                for market_id, runner in by_market.items():
                    view = runner.market_view()
                    if view is None:
                        continue
                    step, size = SHAPES[runner.symbol]
                    if market_id in resting:
                        await client.cancel_order(market_id, resting.pop(market_id))
                    else:
                        # A quarter step below the mid: above every grid's nearest buy.
                        price = (view.mid - step / 4).quantize(step / 100, ROUND_DOWN)
                        resting[market_id] = next(ids)
                        await client.place_order(
                            market_id, OrderSide.BUY, size, price, resting[market_id],
                            post_only=True,
                        )  # fmt: skip
                    changes += 1
                await asyncio.sleep(every_s)
            elapsed = time.monotonic() - started
            spent = runner_cpu.spent_ms()
            split = runner_cpu.split(max(round(elapsed), 1))
            for market_id, order in resting.items():
                await client.cancel_order(market_id, order)
    finally:
        await asyncio.gather(*(asyncio.to_thread(b.stop) for b in bots))
    return (
        f"  runners' own threads: {spent / elapsed:.1f} ms of CPU per second, "
        f"{spent / max(changes, 1):.2f} ms per book change ({changes / elapsed:.1f} changes/s; "
        f"ms a second by thread: {split})"
    )


async def measure(
    base_url: str, redis_url: str, count: int, seconds: float, period_s: float, together: bool
) -> tuple[list[float], int, str, float]:
    """Run `count` bots under fills for `seconds`; returns latencies (ms), fills seen, the
    line with the runners' own CPU per fill and that figure (ms)."""
    bots = await bots_up(base_url, count)
    try:
        runners = [b.runner for b in bots]
        # One taker account per few bots: a taker's sends queue on its key's nonce lock, and
        # one taker alone could not give 50 bots a fill a second each.
        shares = [runners[i : i + TAKER_SHARE] for i in range(0, len(runners), TAKER_SHARE)]
        accounts = [create_account(base_url) for _ in shares]
        takers = await asyncio.to_thread(Takers, base_url, redis_url, accounts)
        stop = asyncio.Event()
        runner_cpu = RunnerCpu()
        pauses = GcPauses()
        started = time.monotonic()
        tasks = [
            asyncio.create_task(take(takers, n, share, stop, period_s, together))
            for n, share in enumerate(shares)
        ]
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - started
        collections = pauses.stop()
        books = [r.client.tickets.size() for r in runners]
        collections += (
            f"; after the run it walks {len(gc.get_objects())} objects, the ticket books "
            f"holding {sum(b.ended for b in books)} ended tickets and "
            f"{sum(b.early_reports for b in books)} reports of orders not theirs"
        )
        taker_cpu = await asyncio.to_thread(takers.close)
        timers = [b.timer for b in bots if b.timer is not None]
        fills = sum(t.fills for t in timers)
        # Printed by the caller under the run's heading (read now: a stopped bot's thread is
        # gone, and its CPU time with it).
        per_fill_ms = runner_cpu.per_fill_ms(fills)
        own_cpu = (
            f"  runners' own threads: {per_fill_ms:.1f} ms of CPU per fill "
            f"({fills / elapsed:.1f} fills/s; ms by thread: {runner_cpu.split(fills)}); "
            f"the takers' process: {100 * taker_cpu / elapsed:.0f} % of one core\n  {collections}"
        )
    finally:
        await asyncio.gather(*(asyncio.to_thread(b.stop) for b in bots))
    return [s for t in timers for s in t.samples], fills, own_cpu, per_fill_ms


def measured(*args: Any, **kwargs: Any) -> tuple[list[float], int, str]:
    """`measure` in a loop of its own, with this machine's reference workload timed all along
    (`bench.simkit.ReferenceSampler`); the CPU line gets the per-fill figure in reference
    units, which compare across runs where this VM's drifting milliseconds do not."""
    sampler = ReferenceSampler()
    try:
        samples, fills, own_cpu, per_fill_ms = asyncio.run(measure(*args, **kwargs))
    finally:
        reference = sampler.stop()
    own_cpu += (
        f"\n  reference workload {reference:.2f} ms: CPU per fill = "
        f"{per_fill_ms / reference:.2f} reference units"
    )
    return samples, fills, own_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", default="3,12,24,48", help="capacity runs' sizes (0: none)")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--single-seconds", type=float, default=20.0)
    parser.add_argument(
        "--jitter-seconds",
        type=float,
        default=0.0,
        help="seconds of the jittering-book run (0: skip it)",
    )
    parser.add_argument("--jitter-bots", type=int, default=12)
    parser.add_argument(
        "--jitter-every", type=float, default=0.05, help="seconds between book changes per market"
    )
    parser.add_argument(
        "--fill-every", type=float, default=1.0, help="seconds between a bot's fills (mean)"
    )
    parser.add_argument(
        "--keep-gc",
        action="store_true",
        help="leave the startup's objects to the garbage collector (a bots worker freezes them "
        "once it is up: lighterweb.heap; the bench did not until 2026-12-07)",
    )
    parser.add_argument(
        "--venue-verifies",
        action="store_true",
        help="the simulator checks every transaction's signature (its pure-Python check is most "
        "of its CPU: at 48 fills a second it fills its core, and the latency then measures it)",
    )
    args = parser.parse_args()
    go_processors = start_as_a_worker()
    logging.basicConfig(level=logging.WARNING)
    from lighterweb.redis_server import free_port

    redis_url, embedded = start_bench_redis()
    port = free_port()
    child = start_simulator(port, {**SIM_CONFIG, "verify_signatures": args.venue_verifies})
    base_url = f"http://127.0.0.1:{port}"
    try:
        vendor = setup_django(redis_url)
        if not args.keep_gc:
            from lighterweb.celery import BOT_RUNNER_MODULE
            from lighterweb.heap import freeze_startup

            freeze_startup(preload=(BOT_RUNNER_MODULE,))  # as a bots worker does once it is up
        verifies = "yes" if args.venue_verifies else "no (--venue-verifies)"
        print(f"database: {vendor}, {os.cpu_count()} CPUs; the venue checks signatures: {verifies};"
              f" GOMAXPROCS={go_processors}")  # fmt: skip
        cpu = CpuShare(child.pid)
        samples, fills, own_cpu = measured(
            base_url, redis_url, 1, args.single_seconds, 0.05, together=True
        )
        print(f"one bot: {fills} fills, fill -> replenish accepted p50 {pct(samples, 0.5):.1f} ms, "
              f"p99 {pct(samples, 0.99):.1f} ms ({len(samples)} samples)")  # fmt: skip
        print(own_cpu)
        print(f"  {cpu.report(fills)}")
        for count in (int(n) for n in args.bots.split(",") if n.strip() and int(n) > 0):
            for together, how in ((False, "independent fills"), (True, "simultaneous fills")):
                samples, fills, own_cpu = measured(
                    base_url, redis_url, count, args.seconds, args.fill_every, together
                )
                print(f"{count} bots in one process, {how} every {args.fill_every:g} s: "
                      f"{fills} fills, p50 {pct(samples, 0.5):.1f} ms, "
                      f"p99 {pct(samples, 0.99):.1f} ms, RSS {rss_mb():.0f} MiB")  # fmt: skip
                print(own_cpu)
                print(f"  {cpu.report(fills)}")
        # Last: its grids' ladders stay on the book when they stop (as a stopped worker's do),
        # and a later run's taker would trade with them first.
        if args.jitter_seconds > 0:
            line = asyncio.run(
                jitter(base_url, redis_url, args.jitter_bots, args.jitter_seconds,
                       args.jitter_every)
            )  # fmt: skip
            print(f"{args.jitter_bots} grids, a bid inside their spread coming and going every "
                  f"{args.jitter_every:g} s per market, no fills:")  # fmt: skip
            print(line)
    finally:
        child.kill()
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
