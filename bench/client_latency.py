"""Exchange client latency and throughput against the simulator (latency 0). Prints figures.

    python bench/client_latency.py [--orders 200] [--batch-orders 1000]

- submit -> ticket resolved, p50/p99: `place_order` then `resolve`, once resolving over REST
  (accountOrders by client index) and once from the account stream;
- client overhead per transaction: CPU time of this process per `place_order` (signing with
  the Go signer, nonce lock in Redis, HTTP client, parsing), and the signer alone;
- orders/s placed one sendTx at a time vs as sendTxBatch of 50.

The simulator runs in a child process so its CPU is not counted as the client's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.simkit import create_account, pct, start_bench_redis, start_simulator

ETH = 0
SIM_CONFIG: dict[str, Any] = {
    "seed": 1,
    "latency_ms": 0,
    "price_paths": {"0": {"kind": "flat"}, "1": {"kind": "flat"}, "2": {"kind": "flat"}},
    "liquidity": {"enabled": True, "levels": 5},
    "funding_enabled": False,
    "rate_limits": {"enabled": False},
    "max_active_orders": 1_000_000,
}


class Ids:
    """Client order indexes, counting up."""

    def __init__(self) -> None:
        self.value = 0

    def next(self) -> int:
        self.value += 1
        return self.value


async def submit_to_resolved(client: Any, ids: Ids, n: int, bid: Decimal) -> list[float]:
    """Milliseconds from place_order to a resolved ticket, `n` times."""
    from exchange.types import OrderSide

    samples = []
    for i in range(n):
        start = time.perf_counter()
        ticket = await client.place_order(
            ETH, OrderSide.BUY, Decimal("0.01"), bid - 20 - Decimal(i % 500) / 100, ids.next(),
            post_only=True,
        )  # fmt: skip
        ticket = await client.resolve(ticket, timeout_s=5)
        samples.append((time.perf_counter() - start) * 1000)
        assert ticket.is_resolved, ticket
    return samples


async def run(orders: int, batch_orders: int, redis_url: str, base_url: str) -> None:
    from exchange.client import LighterClient
    from exchange.orders import OrderSpec, OrderType, TimeInForce
    from exchange.trading import OrderRequest
    from exchange.types import OrderSide

    index, l1, key = create_account(base_url)
    ids = Ids()
    async with LighterClient(
        base_url, account_index=index, api_key_index=3, api_private_key=key, l1_address=l1,
        redis_url=redis_url, tier="premium", per_minute=10**9,
    ) as client:  # fmt: skip
        bid = (await client.order_book(ETH)).top().bid
        await submit_to_resolved(client, ids, 10, bid)  # warm-up

        rest = await submit_to_resolved(client, ids, orders, bid)
        print(f"submit->resolved over REST   : p50 {pct(rest, .5):6.2f} ms  "
              f"p99 {pct(rest, .99):6.2f} ms  (n={orders})")  # fmt: skip

        stream = client.open_stream([ETH])

        async def consume() -> None:
            async for event in stream.events():
                client.apply_event(event)

        await stream.start()
        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0.5)  # let the subscriptions settle before measuring
        streamed = await submit_to_resolved(client, ids, orders, bid)
        await stream.stop()
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        print(f"submit->resolved via stream  : p50 {pct(streamed, .5):6.2f} ms  "
              f"p99 {pct(streamed, .99):6.2f} ms  (n={orders})")  # fmt: skip

        spec = OrderSpec(ETH, 1, 100, 100_000, False, OrderType.LIMIT, TimeInForce.POST_ONLY)

        def sign_many() -> float:
            start = time.perf_counter()
            for nonce in range(500):
                client.signer.sign(spec, nonce)
            return (time.perf_counter() - start) / 500 * 1e6

        on_loop = sign_many()
        on_thread = await asyncio.get_running_loop().run_in_executor(
            client.signer.executor(), sign_many
        )
        print(f"signing alone, main thread   : {on_loop:8.1f} us/tx")
        print(f"signing alone, signer thread : {on_thread:8.1f} us/tx (what the client uses)")

        cpu0, wall0 = time.process_time(), time.perf_counter()
        for i in range(orders):
            await client.place_order(
                ETH, OrderSide.BUY, Decimal("0.01"), bid - 30 - Decimal(i % 500) / 100,
                ids.next(), post_only=True,
            )  # fmt: skip
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        print(f"client CPU per transaction   : {cpu / orders * 1000:8.2f} ms/tx "
              "(sign + nonce lock + HTTP + parse)")  # fmt: skip
        print(f"orders/s, one sendTx each    : {orders / wall:8.0f}")

        requests = [
            OrderRequest(OrderSide.BUY, Decimal("0.01"), bid - 40 - Decimal(i % 500) / 100,
                         ids.next(), post_only=True)
            for i in range(batch_orders)
        ]  # fmt: skip
        wall0 = time.perf_counter()
        await client.place_orders(ETH, requests)
        wall = time.perf_counter() - wall0
        print(f"orders/s, sendTxBatch of 50  : {batch_orders / wall:8.0f}  (n={batch_orders})")


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--batch-orders", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from lighterweb.redis_server import free_port

    redis_url, embedded = start_bench_redis()
    port = args.port or free_port()
    child = start_simulator(port, SIM_CONFIG)
    try:
        asyncio.run(run(args.orders, args.batch_orders, redis_url, f"http://127.0.0.1:{port}"))
    finally:
        child.kill()
        child.wait()
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
