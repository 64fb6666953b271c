"""Grid bot latency and capacity against the simulator (latency 0). Prints figures.

    python bench/grid_latency.py [--fills 200] [--bots 3,12,24,48] [--seconds 15]

- fill -> replenish accepted, p50/p99: one ETH grid bot (the real runner: stream, fenced DB
  writes, intents before the send, one sendTxBatch per plan); a taker account trades against
  the grid's nearest order with an IOC, alternating sides, and the runner's time from seeing the
  fill to the 200 of the batch that replenishes it is measured (no taker time included);
- capacity: N bots (3 markets per account, N/3 accounts) in this one process, each receiving a
  fill about once a second; prints the same latency percentiles per N and this process's RSS.

The simulator runs in a child process; the takers run in this process (they are load too): each
line prints the CPU share both took. The database is a throwaway SQLite file, or the PostgreSQL
database of DATABASE_URL (postgres://...; create a fresh one and drop it after). Redis is the one
at REDIS_URL or an embedded one. DEBUG is off, as in a worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SYMBOLS = {"ETH": 0, "BTC": 1, "SOL": 2}
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


def serve(port: int) -> None:
    """Run the simulator on `port` until killed (child process)."""
    from exchange.simulator.config import SimConfig
    from exchange.simulator.server import SimServer

    async def main() -> None:
        server = SimServer(SimConfig.from_dict(SIM_CONFIG), rate_limits=False)
        await server.start("127.0.0.1", port)
        await asyncio.Event().wait()

    asyncio.run(main())


def start_simulator(port: int) -> subprocess.Popen[bytes]:
    """Start the simulator child and wait until it answers."""
    child = subprocess.Popen(
        [sys.executable, __file__, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1),
        ):
            return child
        time.sleep(0.1)
    child.kill()
    raise RuntimeError("simulator did not start")


def create_sim_account(base_url: str) -> tuple[int, str, str]:
    """A funded account with a fresh API key at index 3: (index, l1 address, private key)."""
    from lighter.signer_client import create_api_key

    private_key, public_key, err = create_api_key()
    assert err is None, err
    l1 = "0x" + os.urandom(20).hex()
    body = {"l1_address": l1, "collateral": "100000000", "api_keys": {"3": public_key}}
    request = urllib.request.Request(
        base_url + "/sim/accounts",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return int(json.loads(reply.read())["index"]), l1, private_key


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class CpuShare:
    """CPU seconds used by this process (runners + takers) and the simulator child since the
    last report, as a share of the wall time: the bench's own load on a small machine."""

    def __init__(self, child_pid: int) -> None:
        self._child = child_pid
        self._last = (time.monotonic(), *self._cpu())

    def _cpu(self) -> tuple[float, float]:
        tick = os.sysconf("SC_CLK_TCK")
        fields = Path(f"/proc/{self._child}/stat").read_text().rsplit(")", 1)[1].split()
        child = (int(fields[11]) + int(fields[12])) / tick
        own = time.process_time()
        return own, child

    def report(self) -> str:
        """CPU share of this process and of the simulator since the previous report."""
        now, own, child = time.monotonic(), *self._cpu()
        then, own0, child0 = self._last
        self._last = (now, own, child)
        wall = max(now - then, 1e-9)
        return (
            f"CPU: runners+takers {100 * (own - own0) / wall:.0f} %, "
            f"simulator {100 * (child - child0) / wall:.0f} % of one core"
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
            sim_account = create_sim_account(base_url)
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
    """Wraps a runner: from the first report of a fill of one of its orders (order update or
    fill event, whichever comes first) to the 200 of the next batch sent, in milliseconds."""

    def __init__(self, runner: Any) -> None:
        from exchange.streams import FillEvent, OrderUpdate

        self.samples: list[float] = []
        self.fills = 0
        self._fill_at: float | None = None
        seen: set[int] = set()
        on_event = runner.on_event

        async def timed_event(event: Any) -> None:
            arrived = time.perf_counter()
            traded: list[int] = []
            if isinstance(event, OrderUpdate):
                traded = [o.client_order_index for o in event.orders if o.filled_size > 0]
            elif isinstance(event, FillEvent) and not event.is_snapshot:
                traded = [f.client_order_index for f in event.fills]
            fresh = [i for i in traded if i in runner.live and i not in seen]
            seen.update(fresh)
            if fresh:
                self.fills += len(fresh)
                if self._fill_at is None:
                    self._fill_at = arrived
            await on_event(event)

        def accepted(_indexes: list[int]) -> None:
            if self._fill_at is not None:
                self.samples.append((time.perf_counter() - self._fill_at) * 1000)
                self._fill_at = None

        runner.on_event, runner.on_accepted = timed_event, accepted


async def take(
    base_url: str,
    redis_url: str,
    sim_account: tuple[int, str, str],
    runners: list[Any],
    stop: asyncio.Event,
    period_s: float,
) -> None:
    """Trade against each runner's nearest order with an IOC every `period_s`, sides alternating."""
    from exchange.client import LighterClient
    from exchange.types import OrderSide

    index, l1, key = sim_account
    ids = 1
    async with LighterClient(
        base_url, account_index=index, api_key_index=3, api_private_key=key, l1_address=l1,
        redis_url=redis_url, tier="premium", per_minute=10**9,
    ) as client:  # fmt: skip
        n = 0
        while not stop.is_set():
            n += 1
            side = OrderSide.BUY if n % 2 else OrderSide.SELL
            for runner in runners:
                view = runner.market_view()
                if view is None or runner.state is None:
                    continue
                step, size = SHAPES[runner.symbol]
                # Through the nearest grid order but short of the simulator's far liquidity.
                price = view.mid + step * 2 if side is OrderSide.BUY else view.mid - step * 2
                ids += 1
                await client.place_order(runner.market_id, side, size, price, ids, ioc=True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period_s):
                    await stop.wait()


async def measure(
    base_url: str, redis_url: str, count: int, seconds: float, period_s: float
) -> tuple[list[float], int]:
    """Run `count` bots under fills for `seconds`; returns latencies (ms) and fills seen."""
    from asgiref.sync import sync_to_async

    from bots.runner import run_runner, runner_create

    made = await sync_to_async(make_bots)(base_url, count)
    runners = [await runner_create(bot_id, fence=1) for bot_id, _ in made]
    timers = [Timed(r) for r in runners]
    tasks = [asyncio.create_task(run_runner(r)) for r in runners]
    deadline = time.monotonic() + 60
    while not all(r.state is not None and len(r.live) == 10 for r in runners):
        if time.monotonic() > deadline:
            raise RuntimeError("grids did not come up within 60 s")
        await asyncio.sleep(0.1)
    taker = create_sim_account(base_url)
    stop = asyncio.Event()
    takers = asyncio.create_task(take(base_url, redis_url, taker, runners, stop, period_s))
    await asyncio.sleep(seconds)
    stop.set()
    await takers
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return [s for t in timers for s in t.samples], sum(t.fills for t in timers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd")
    serve_cmd = sub.add_parser("serve")
    serve_cmd.add_argument("--port", type=int, required=True)
    parser.add_argument("--bots", default="3,12,24,48")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--single-seconds", type=float, default=20.0)
    args = parser.parse_args()
    if args.cmd == "serve":
        serve(args.port)
        return
    logging.basicConfig(level=logging.WARNING)
    from lighterweb.redis_server import EmbeddedRedis, free_port, redis_reachable

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    embedded = None
    if not redis_reachable(redis_url):
        embedded = EmbeddedRedis(port=free_port(), data_dir=Path(tempfile.mkdtemp())).start()
        redis_url = embedded.url
    port = free_port()
    child = start_simulator(port)
    base_url = f"http://127.0.0.1:{port}"
    try:
        vendor = setup_django(redis_url)
        print(f"database: {vendor}, {os.cpu_count()} CPUs")
        cpu = CpuShare(child.pid)
        samples, fills = asyncio.run(measure(base_url, redis_url, 1, args.single_seconds, 0.05))
        print(f"one bot: {fills} fills, fill -> replenish accepted p50 {pct(samples, 0.5):.1f} ms, "
              f"p99 {pct(samples, 0.99):.1f} ms ({len(samples)} samples)")  # fmt: skip
        print(f"  {cpu.report()}")
        for count in (int(n) for n in args.bots.split(",")):
            samples, fills = asyncio.run(measure(base_url, redis_url, count, args.seconds, 1.0))
            print(f"{count} bots in one process: {fills} fills, p50 {pct(samples, 0.5):.1f} ms, "
                  f"p99 {pct(samples, 0.99):.1f} ms, RSS {rss_mb():.0f} MiB")  # fmt: skip
            print(f"  {cpu.report()}")
    finally:
        child.kill()
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
