"""Request budget use of three paper grid bots on one standard account. Prints figures.

    python bench/budget_use.py [--minutes 3] [--fill-every 6]

Three grid bots (ETH, BTC, SOL, 5 levels a side: 10 orders each) run on ONE standard-tier paper
account against the simulator, as a `bots` worker runs them (the real runner, each on its own
thread and loop). Prices move: every market follows a seeded random walk (GBM, one step a second),
so the grids roll their centres, and a taker on another account trades against each grid about
every `--fill-every` seconds (20 by default). The periodic tasks that touch the exchange run as
beat schedules them: the account refresh (`ACCOUNTS_REFRESH_SECONDS`) and the dead-man's switch
sync.

Every request the account's processes send is counted by kind (the endpoint; `sendTx` and
`sendTxBatch` are the transactions) and lane, per whole minute after a one-minute warm-up
(startup recovery is not routine use). Printed: requests per minute by kind (p50 / max over the
minutes), the total, and the most the shared budget held in any rolling minute. The venue's
limit is 60; the budget grants at most 55 and routine traffic at most 37; the aim is <= 30.

The simulator enforces Lighter's rate limits (60 per minute per L1 address): its 429s, if any,
are printed too. Database: a throwaway SQLite file; Redis: the run's own
(`BENCH_REDIS_URL` or an embedded one: never REDIS_URL's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.grid_latency import SHAPES, BotThread, setup_django, take  # noqa: E402
from bench.simkit import start_bench_redis, start_simulator  # noqa: E402

SIM_CONFIG: dict[str, Any] = {
    "seed": 3,
    "latency_ms": 0,
    # About 0.1 % a second: a 10-level grid rolls its centre a few times a minute.
    "price_paths": {
        str(market): {"kind": "gbm", "volatility": "6", "step_ms": 1000, "seed": 10 + market}
        for market in (0, 1, 2)
    },
    "liquidity": {
        "enabled": True,
        "levels": 2,
        "step_bps": 100,
        "first_offset_bps": 300,
        "size_quote": "100000",
    },
    "funding_enabled": False,
    "rate_limits": {"enabled": True, "standard_per_minute": 60},
}
WARMUP_S = 60.0


class RequestLog:
    """Every REST request of this process, as (monotonic time, endpoint, lane, budget key)."""

    def __init__(self) -> None:
        self.entries: list[tuple[float, str, str, str]] = []
        self._lock = threading.Lock()

    def install(self) -> None:
        from exchange import http
        from exchange.budget import current_lane

        original = http.RestTransport._once
        log = self

        async def counted(self: Any, method: str, endpoint: str, **kwargs: Any) -> Any:
            key = self.budget.key if self.budget is not None else "-"
            name = endpoint.strip("/").removeprefix("api/v1/")
            with log._lock:
                log.entries.append((time.monotonic(), name, current_lane(), key))
            return await original(self, method, endpoint, **kwargs)

        http.RestTransport._once = counted  # type: ignore[method-assign]


def _account_with_tier(base_url: str, tier: str) -> tuple[int, str, str]:
    from lighter.signer_client import create_api_key

    private_key, public_key, err = create_api_key()
    assert err is None, err
    l1 = "0x" + os.urandom(20).hex()
    body = {
        "l1_address": l1,
        "collateral": "100000000",
        "api_keys": {"3": public_key},
        "tier": tier,
    }
    request = urllib.request.Request(
        base_url + "/sim/accounts",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return int(json.loads(reply.read())["index"]), l1, private_key


def make_bots(base_url: str) -> tuple[int, list[int], str]:
    """One standard account with three running-desired grid bots (10 orders each)."""
    from bots import services
    from bots.models import ExchangeAccount, GridBot, Market

    index, l1, key = _account_with_tier(base_url, "standard")
    account = ExchangeAccount(
        name=f"budget-{index}", base_url_override=base_url, tier="standard",
        account_index=index, api_key_index=3, l1_address=l1,
    )  # fmt: skip
    account.set_api_private_key(key)
    account.save()
    services.markets_sync(account)
    ids = []
    for symbol in ("ETH", "BTC", "SOL"):
        step, size = SHAPES[symbol]
        bot = GridBot(
            name=f"budget-{symbol}", account=account,
            market=Market.objects.get(network="paper", symbol=symbol),
            step=step, size=size, levels_per_side=5, max_open_orders=10,
            max_position_notional=Decimal("1000000"), leverage=Decimal("5"),
        )  # fmt: skip
        bot.full_clean()
        bot.save()
        GridBot.objects.filter(pk=bot.pk).update(desired_state="running", lease_fence=1)
        ids.append(bot.pk)
    return account.pk, ids, l1.lower()


class Beat:
    """The beat schedules that touch the exchange, each on its own thread as a worker runs it."""

    def __init__(self) -> None:
        from lighterweb.celery import ACCOUNTS_REFRESH_SECONDS, DEADMAN_SYNC_SECONDS

        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._every, args=(ACCOUNTS_REFRESH_SECONDS, "refresh")),
            threading.Thread(target=self._every, args=(DEADMAN_SYNC_SECONDS, "deadman")),
        ]
        for thread in self.threads:
            thread.start()

    def _every(self, seconds: float, what: str) -> None:
        from django.db import close_old_connections

        from bots.accounts import accounts_refresh_active
        from bots.engine.deadman import deadman_sync_all

        call = accounts_refresh_active if what == "refresh" else deadman_sync_all
        while not self.stop.wait(seconds):
            try:
                call()
            except Exception as exc:  # a bench: report and go on
                print(f"  beat {what} failed: {exc}")
            finally:
                close_old_connections()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


async def run(base_url: str, redis_url: str, minutes: float, fill_every: float) -> None:
    from asgiref.sync import sync_to_async

    from exchange.budget import RequestBudget
    from exchange.redis_clients import async_redis_client

    log = RequestLog()
    log.install()
    _account_id, bot_ids, l1 = await sync_to_async(make_bots)(base_url)
    bots = [BotThread(bot_id) for bot_id in bot_ids]
    beat = Beat()
    redis = async_redis_client(redis_url)
    budget = RequestBudget(redis, l1, "standard")
    peak = 0
    try:
        deadline = time.monotonic() + 60
        while not all(b.ready.is_set() and b.runner.strategy.state for b in bots):
            if time.monotonic() > deadline:
                raise RuntimeError("the grids did not come up in time")
            await asyncio.sleep(0.1)
        runners = [b.runner for b in bots]
        taker = _account_with_tier(base_url, "premium")
        stop = asyncio.Event()
        takers = asyncio.create_task(
            take(base_url, redis_url, taker, runners, stop, fill_every, together=False)
        )
        started = time.monotonic()
        end = started + WARMUP_S + minutes * 60
        while time.monotonic() < end:
            await asyncio.sleep(1)
            if time.monotonic() >= started + WARMUP_S:
                peak = max(peak, (await budget.usage()).used)
        stop.set()
        await takers
        fills = sum(b.timer.fills for b in bots if b.timer is not None)
        rate_limited = sum(r.client.http.rate_limited_replies for r in runners)
    finally:
        beat.close()
        await asyncio.gather(*(asyncio.to_thread(b.stop) for b in bots))
        await redis.aclose()
    report(log, l1, started + WARMUP_S, minutes, peak, fills, rate_limited)


def report(
    log: RequestLog,
    key: str,
    start: float,
    minutes: float,
    peak: int,
    fills: int,
    rate_limited: int,
) -> None:
    whole = max(1, int(minutes))
    per_minute: dict[str, list[int]] = defaultdict(lambda: [0] * whole)
    lanes: Counter[str] = Counter()
    for at, name, lane, budget_key in log.entries:
        minute = int((at - start) // 60)
        if budget_key != key or not 0 <= minute < whole:
            continue
        per_minute[name][minute] += 1
        per_minute["TOTAL"][minute] += 1
        lanes[lane] += 1
    print(f"3 grid bots x 10 orders on one standard account, {whole} min after a 1 min warm-up, "
          f"{fills} fills")  # fmt: skip
    print(f"{'kind':<28} {'p50/min':>8} {'max/min':>8}")
    for name in sorted(per_minute, key=lambda n: (n == "TOTAL", -sum(per_minute[n]))):
        counts = per_minute[name]
        print(f"{name:<28} {statistics.median(counts):>8.1f} {max(counts):>8d}")
    print(f"lanes: {dict(lanes)}")
    print(f"most requests in any rolling minute (the shared budget): {peak} of 60 "
          f"(budget grants <= 55, routine <= 37)")  # fmt: skip
    print(f"429 replies from the simulator to the bots: {rate_limited}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--fill-every", type=float, default=20.0)
    parser.add_argument(
        "--account-reconcile",
        type=float,
        default=None,
        help="seconds between REST reads of the account's balances (0: at every 15 s beat, as "
        "before 2026-12-05); default: bots.accounts.ACCOUNT_RECONCILE_SECONDS",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from lighterweb.redis_server import free_port

    # A database of its own: bot ids count from 1 in the throwaway SQLite, so would lease keys.
    redis_url, embedded = start_bench_redis()
    port = free_port()
    child = start_simulator(port, SIM_CONFIG)
    base_url = f"http://127.0.0.1:{port}"
    try:
        # The bench child starts with rate limits off: the venue's 60 a minute, enforced.
        limits = json.dumps({"enabled": True, "standard_per_minute": 60}).encode()
        request = urllib.request.Request(
            base_url + "/sim/ratelimit", data=limits, headers={"content-type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=10).close()
        setup_django(redis_url)
        if args.account_reconcile is not None:
            from bots import accounts

            accounts.ACCOUNT_RECONCILE_SECONDS = args.account_reconcile
        asyncio.run(run(base_url, redis_url, args.minutes, args.fill_every))
    finally:
        child.kill()
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
