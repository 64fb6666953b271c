"""What the benchmarks share: the simulator in a child process, funded accounts, percentiles,
and a reference workload that says how fast this machine runs Python right now.

The simulator runs in its own process so its CPU is not the measured process's; run this file
directly (`python bench/simkit.py --port N --config JSON`) to get that child.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

START_TIMEOUT_S = 30.0


def start_as_a_worker() -> str:
    """Run this bench's process as the Procfile starts a bots worker: with GOMAXPROCS set (the
    Lighter signer's Go runtime reads it only from the environment its process started with,
    `exchange.signer`). Started without it, the bench runs itself again with it; returns the
    value in force."""
    value = os.environ.get("GOMAXPROCS")
    if value is not None:
        return value
    from exchange.signer import GO_PROCESSORS

    os.execve(sys.executable, sys.orig_argv, {**os.environ, "GOMAXPROCS": GO_PROCESSORS})
    raise AssertionError("unreachable: execve does not return")  # pragma: no cover


def start_bench_redis() -> tuple[str, Any]:
    """The run's own Redis: BENCH_REDIS_URL when set, else an embedded server on a free port
    (stop it when done; None when BENCH_REDIS_URL was used).

    Never REDIS_URL's: bot ids count from 1 in a bench's throwaway database, so its leases,
    budgets and dashboard pushes would land on the bots of a LighterWeb running on this machine.
    """
    import tempfile

    from lighterweb.redis_server import EmbeddedRedis, free_port

    url = os.environ.get("BENCH_REDIS_URL")
    if url:
        return url, None
    server = EmbeddedRedis(port=free_port(), data_dir=Path(tempfile.mkdtemp())).start()
    return server.url, server


def serve(port: int, config: dict[str, Any]) -> None:
    """Run a simulator with `config` on `port` until killed (the child process)."""
    from exchange.simulator.config import SimConfig
    from exchange.simulator.server import SimServer

    async def main() -> None:
        server = SimServer(SimConfig.from_dict(config), rate_limits=False)
        await server.start("127.0.0.1", port)
        await asyncio.Event().wait()

    asyncio.run(main())


def start_simulator(port: int, config: dict[str, Any]) -> subprocess.Popen[bytes]:
    """Start the simulator child on `port` and wait until it answers."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--port", str(port), "--config", json.dumps(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                return child
        time.sleep(0.1)
    child.kill()
    raise RuntimeError("simulator did not start")


def create_account(
    base_url: str, collateral: str = "100000000", api_key_index: int = 3
) -> tuple[int, str, str]:
    """A funded simulator account with a fresh real API key: (index, L1 address, private key)."""
    from lighter.signer_client import create_api_key

    private_key, public_key, err = create_api_key()
    assert err is None, err
    l1 = "0x" + os.urandom(20).hex()
    body = {
        "l1_address": l1,
        "collateral": collateral,
        "api_keys": {str(api_key_index): public_key},
    }
    request = urllib.request.Request(
        base_url + "/sim/accounts",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return int(json.loads(reply.read())["index"]), l1, private_key


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, nearest rank (NaN when there are none: a run that
    saw no fill prints `nan` instead of failing)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# A runner's kind of work, fixed: a stream frame of ten orders decoded, its prices and sizes
# read as Decimals and valued, each order keyed and copied into a dict, the result encoded again.
_FRAME = json.dumps(
    {
        "channel": "account_all_orders:1",
        "type": "update/account_all_orders",
        "orders": {
            "0": [
                {
                    "order_index": 281474976710000 + i,
                    "client_order_index": 1000 + i,
                    "price": f"{3990 + 5 * i}.25",
                    "initial_base_amount": "0.0100",
                    "remaining_base_amount": "0.0100",
                    "status": "open",
                    "is_ask": i % 2 == 1,
                    "timestamp": 1765000000000 + i,
                }
                for i in range(10)
            ]
        },
    }
)
REFERENCE_ROUNDS = 400


def _reference_work() -> None:
    for _ in range(REFERENCE_ROUNDS):
        frame = json.loads(_FRAME)
        book: dict[str, dict[str, Any]] = {}
        value = Decimal(0)
        for order in frame["orders"]["0"]:
            price, size = Decimal(order["price"]), Decimal(order["remaining_base_amount"])
            value += (price * size).quantize(Decimal("0.000001"))
            side = "sell" if order["is_ask"] else "buy"
            book[f"{side}:{order['client_order_index']}"] = {**order, "value": str(price * size)}
        json.dumps({"value": str(value), "orders": sorted(book)})


def reference_ms() -> float:
    """CPU milliseconds of this thread for one round of a fixed piece of Python work like a
    runner's."""
    start = time.thread_time()
    _reference_work()
    return (time.thread_time() - start) * 1000


def _sample_reference(conn: Any, every_s: float) -> None:
    samples: list[float] = []
    while not conn.poll(every_s):
        samples.append(reference_ms())
    conn.send(samples)


class ReferenceSampler:
    """This machine's speed *during* a run: a child process times the reference workload
    (`reference_ms`, ~10 ms of CPU) every `every_s` seconds, about 3 % of a core, and `stop`
    returns the median. This VM's speed drifts by 30-40 % between runs and within one (the
    reference alone took 11 or 15 ms from one minute to the next); a figure divided by it (the
    benches print "reference units") compares across runs and days where milliseconds do not.
    In a process of its own: it must not take the measured process's interpreter lock."""

    def __init__(self, every_s: float = 0.3) -> None:
        import multiprocessing

        spawn = multiprocessing.get_context("spawn")
        self._conn, child = spawn.Pipe()
        self._process = spawn.Process(target=_sample_reference, args=(child, every_s), daemon=True)
        self._process.start()

    def stop(self) -> float:
        """End the sampling; the median of its samples in ms (NaN if it took none)."""
        self._conn.send(None)
        samples: list[float] = self._conn.recv() if self._conn.poll(30) else []
        self._process.join(10)
        return pct(samples, 0.5)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="run the benchmark simulator child")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", required=True, help="SimConfig as JSON")
    arguments = parser.parse_args()
    serve(arguments.port, json.loads(arguments.config))
