"""Hedge bot latency against the simulator (latency 0): A fill -> B filled, p50/p99. Prints figures.

    python bench/hedge_latency.py [--hedges 50]

One ETH hedge bot (the engine's one runner with two legs: two accounts' streams, fenced DB
writes, A's post-only order inside the spread, B's market orders as IOC limits at the worst
price) cycles without hold or cooldown; a taker account fills A's whole resting order with an
IOC at its price, so every fill of A is hedged by one market order of B against the simulator's
own liquidity. Measured per
hedge: from the arrival of A's fill report on A's stream (as the stream hands it to the runner's
queue) to the arrival of B's fill report on B's stream, in milliseconds: the runner's reaction,
B's order signed and sent, the venue's match and B's report (no taker time included).

The simulator runs in a child process (bench/simkit.py); the database is a throwaway SQLite
file, or the PostgreSQL database of DATABASE_URL; Redis is the run's own
(`BENCH_REDIS_URL` or an embedded one: never REDIS_URL's).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from decimal import Decimal
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

ETH = 0
SIM_CONFIG: dict[str, Any] = {
    "seed": 1,
    "latency_ms": 0,
    "price_paths": {"0": {"kind": "flat"}, "1": {"kind": "flat"}, "2": {"kind": "flat"}},
    # The venue's liquidity 10 bps from the mid: B's market orders fill against it, within the
    # bot's 50 bps worst price; A rests 2 bps inside the spread, alone at its price.
    "liquidity": {
        "enabled": True,
        "levels": 2,
        "step_bps": 10,
        "first_offset_bps": 10,
        "size_quote": "10000000",
    },
    "funding_enabled": False,
    "rate_limits": {"enabled": False},
}


def setup_django(redis_url: str) -> str:
    """Django on a throwaway SQLite database (or DATABASE_URL's PostgreSQL), migrated."""
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        db_path = Path(tempfile.mkdtemp(prefix="hedge-bench-")) / "db.sqlite3"
        os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ["REDIS_URL"] = redis_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lighterweb.settings")
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    settings.DEBUG = False
    call_command("migrate", verbosity=0)
    for name in ("bots", "exchange", "aiohttp"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from django.db import connection

    return str(connection.vendor)


def make_accounts(base_url: str) -> list[Any]:
    """Maker, taker and a counterparty account, with the markets synced."""
    from bots import services
    from bots.models import ExchangeAccount

    accounts = []
    for role in ("maker", "taker", "counterparty"):
        index, l1, key = create_account(base_url)
        account = ExchangeAccount(
            name=f"bench-{role}", base_url_override=base_url, tier="premium",
            account_index=index, api_key_index=3, l1_address=l1,
        )  # fmt: skip
        account.set_api_private_key(key)
        account.save()
        accounts.append(account)
    services.markets_sync(accounts[0])
    return accounts


def make_bot(maker: Any, taker: Any) -> int:
    from bots.models import HedgeBot, Market

    bot = HedgeBot(
        name="bench-hedge", account=maker, taker_account=taker,
        market=Market.objects.get(network="paper", symbol="ETH"), size=Decimal("0.01"),
        price_mode="offset_bps", offset_bps=Decimal("-2"), hold_min_ms=0, cooldown_min_ms=0,
    )  # fmt: skip
    bot.full_clean()
    bot.save()
    HedgeBot.objects.filter(pk=bot.pk).update(desired_state="running", lease_fence=1)
    return int(bot.pk)


class Timed:
    """Wraps the runner's queue: A's fill report arrival -> B's next fill report arrival (ms)."""

    def __init__(self, runner: Any) -> None:
        from exchange.streams import FillEvent

        self.samples: list[float] = []
        self._a_at: float | None = None
        enqueue = runner.events.put_nowait
        leg_a, leg_b = list(runner.legs)

        def timed(item: Any) -> None:
            now = time.perf_counter()
            if isinstance(item, tuple) and isinstance(item[1], FillEvent):
                leg, event = item
                ours = runner.legs[leg]
                if any(ours.is_ours(f.client_order_index) for f in event.fills):
                    if leg == leg_a and self._a_at is None:
                        self._a_at = now
                    elif leg == leg_b and self._a_at is not None:
                        self.samples.append((now - self._a_at) * 1000)
                        self._a_at = None
            enqueue(item)

        runner.events.put_nowait = timed


async def run(base_url: str, hedges: int) -> list[float]:
    from asgiref.sync import sync_to_async

    from bots.engine.runner import run_runner, runner_create
    from exchange.types import OrderSide

    maker, taker, counterparty = await sync_to_async(make_accounts)(base_url)
    bot_id = await sync_to_async(make_bot)(maker, taker)
    runner = await runner_create(bot_id, fence=1)
    timer = Timed(runner)
    task = asyncio.create_task(run_runner(runner))
    async with maker.client() as maker_reads, counterparty.client() as client:
        # Hedges are paced by the accounts' request budget (a few seconds each), not measured.
        deadline = time.monotonic() + 120 + 10 * hedges
        while len(timer.samples) < hedges:
            if time.monotonic() > deadline or task.done():
                raise RuntimeError(f"only {len(timer.samples)} hedges in time")
            resting = await maker_reads.open_orders(ETH)
            if not resting or runner.strategy.behind():
                await asyncio.sleep(0.01)
                continue
            order = resting[0]
            side = OrderSide.SELL if order.side == OrderSide.BUY else OrderSide.BUY
            (index,) = await sync_to_async(counterparty.allocate_client_order_indexes)(1)
            before = len(timer.samples)
            await client.place_order(ETH, side, order.remaining_size, order.price, index, ioc=True)
            while len(timer.samples) == before and not task.done():  # noqa: ASYNC110 - polls
                await asyncio.sleep(0.005)
    from bots.models import HedgeBot

    await sync_to_async(HedgeBot.objects.filter(pk=bot_id).update)(desired_state="stopped")
    await task
    return timer.samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hedges", type=int, default=50)
    args = parser.parse_args()
    go_processors = start_as_a_worker()
    logging.basicConfig(level=logging.WARNING)
    from lighterweb.redis_server import free_port

    redis_url, embedded = start_bench_redis()
    port = free_port()
    child = start_simulator(port, SIM_CONFIG)
    try:
        vendor = setup_django(redis_url)
        sampler = ReferenceSampler()
        try:
            samples = asyncio.run(run(f"http://127.0.0.1:{port}", args.hedges))
        finally:
            reference = sampler.stop()
        print(f"database: {vendor}, {os.cpu_count()} CPUs; GOMAXPROCS={go_processors}")
        print(
            f"A fill -> B filled: p50 {pct(samples, 0.5):.1f} ms, p99 {pct(samples, 0.99):.1f} ms,"
            f" max {max(samples):.1f} ms ({len(samples)} hedges)"
        )
        # Latency is wall time, not only CPU: the reference says how fast the machine ran, so
        # that runs are compared with runs made at a similar speed.
        print(f"  reference workload during the run: {reference:.2f} ms (bench.simkit)")
    finally:
        child.kill()
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
