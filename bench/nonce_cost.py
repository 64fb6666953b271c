"""CPU of the send path's Redis work per transaction batch: the request budget and the nonce lock.

    python bench/nonce_cost.py [--sends 3000] [--rounds 3]

What `TxSender._submit_once` does around the HTTP POST, without the POST and without signing:
`RequestBudget.acquire` (premium tier, a limit never reached), then
`NonceCoordinator.reserve(1)` with an empty block (lock, counter, pending mark, renewal,
commit). One task, sequential, on a Redis server of its own (embedded, a child process), so
only this process's CPU is counted: `time.process_time()` per send, in microseconds. (The round
trips per send are counted by tests/exchange/test_redis_round_trips.py.)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aioredis

from exchange.budget import RequestBudget
from exchange.nonces import NonceCoordinator
from lighterweb.redis_server import EmbeddedRedis, free_port


async def _next_nonce() -> int:
    return 0


async def run(url: str, sends: int, rounds: int) -> None:
    client = aioredis.Redis.from_url(url)
    budget = RequestBudget(client, "0xbench", "premium", 10**9)
    coordinator = NonceCoordinator(client, 1, 3, _next_nonce)
    for _ in range(100):  # scripts loaded, counter known
        await budget.acquire(6)
        async with coordinator.reserve(1):
            pass
    for round_ in range(1, rounds + 1):
        started = time.process_time()
        for _ in range(sends):
            await budget.acquire(6)
        budget_us = (time.process_time() - started) / sends * 1e6
        started = time.process_time()
        for _ in range(sends):
            async with coordinator.reserve(1):
                pass
        nonce_us = (time.process_time() - started) / sends * 1e6
        print(
            f"round {round_}: budget acquire {budget_us:.0f} us, nonce reserve {nonce_us:.0f} us, "
            f"together {budget_us + nonce_us:.0f} us of CPU per send"
        )
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sends", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with EmbeddedRedis(port=free_port(), data_dir=Path(tempfile.mkdtemp(prefix="lw-nb-"))) as s:
        asyncio.run(run(s.url, args.sends, args.rounds))


if __name__ == "__main__":
    main()
