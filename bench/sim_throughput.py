"""Simulator throughput: end-to-end tx/s through sendTx and sendTxBatch (real Go signer, real
HTTP to a simulator in another process, several concurrent clients) and in-process matching
ops/s (the engine called directly). Prints figures; asserts nothing.

    python bench/sim_throughput.py [--clients 8] [--txs 200] [--batches 10] [--rounds 3]
        [--skip-signatures]

Goals (docs/simulator.md): >= 2,000 tx/s end to end with batches, >= 100,000 matching ops/s.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.simkit import create_account, start_simulator

ETH = 0
BENCH_CONFIG: dict[str, Any] = {
    "seed": 1,
    "latency_ms": 0,
    "price_paths": {"0": {"kind": "flat"}, "1": {"kind": "flat"}, "2": {"kind": "flat"}},
    "liquidity": {"enabled": True, "levels": 10},
    "funding_enabled": False,
    "rate_limits": {"enabled": False},
    "max_active_orders": 1_000_000,
}


# -- end to end ------------------------------------------------------------------------------


class Trader:
    """One SDK client: signs resting post-only bids with consecutive nonces."""

    def __init__(self, base_url: str, index: int, private_key: str) -> None:
        import lighter

        self.client = lighter.SignerClient(base_url, index, {3: private_key})
        self.tx_api = lighter.TransactionApi(self.client.api_client)
        self.next_client_index = 1

    async def sign(self, count: int) -> list[tuple[int, str]]:
        """``count`` signed txs like a grid's: post-only bids far below the market, each
        followed by the cancel of the previous one, so open orders stay bounded."""
        from lighter import SignerClient

        signed = []
        for i in range(count):
            _, nonce = await self.client.nonce_manager.async_next_nonce(3)
            if i % 2:
                tx_type, tx_info, _, err = self.client.sign_cancel_order(
                    ETH, self.next_client_index - 1, nonce=nonce, api_key_index=3
                )
            else:
                coi = self.next_client_index
                self.next_client_index += 1
                tx_type, tx_info, _, err = self.client.sign_create_order(
                    ETH,
                    coi,
                    100,
                    200000 - coi % 5000,
                    False,
                    SignerClient.ORDER_TYPE_LIMIT,
                    SignerClient.ORDER_TIME_IN_FORCE_POST_ONLY,
                    nonce=nonce,
                    api_key_index=3,
                )
            assert err is None, err
            signed.append((tx_type, tx_info))
        return signed

    async def send_each(self, txs: list[tuple[int, str]], latencies: list[float]) -> None:
        """sendTx one by one, recording each round trip."""
        for tx_type, tx_info in txs:
            started = time.perf_counter()
            reply = await self.tx_api.send_tx(tx_type=tx_type, tx_info=tx_info)
            latencies.append(time.perf_counter() - started)
            assert reply.code == 200

    async def send_batches(
        self, txs: list[tuple[int, str]], size: int, latencies: list[float]
    ) -> None:
        """sendTxBatch in chunks of ``size``."""
        for start in range(0, len(txs), size):
            chunk = txs[start : start + size]
            started = time.perf_counter()
            reply = await self.client.send_tx_batch(
                tx_types=[t for t, _ in chunk], tx_infos=[i for _, i in chunk]
            )
            latencies.append(time.perf_counter() - started)
            assert reply.code == 200 and len(reply.tx_hash) == len(chunk)


def percentiles(samples: list[float]) -> str:
    """p50 / p90 / p99 / max in ms."""
    ordered = sorted(samples)
    if len(ordered) > 1:
        cut = statistics.quantiles(ordered, n=100, method="inclusive")
    else:
        cut = ordered * 99
    p50, p90, p99, top = (cut[49] * 1000, cut[89] * 1000, cut[98] * 1000, ordered[-1] * 1000)
    return f"p50 {p50:.2f} ms, p90 {p90:.2f} ms, p99 {p99:.2f} ms, max {top:.2f} ms"


async def end_to_end(base_url: str, args: argparse.Namespace) -> None:
    """Rounds of sendTx and sendTxBatch with ``args.clients`` concurrent clients."""
    accounts = [create_account(base_url) for _ in range(args.clients)]
    traders = [Trader(base_url, index, key) for index, _, key in accounts]
    try:
        for round_no in range(1, args.rounds + 1):
            signed = []
            started = time.perf_counter()
            for trader in traders:
                signed.append(await trader.sign(args.txs))
            sign_rate = args.clients * args.txs / (time.perf_counter() - started)
            latencies: list[float] = []
            started = time.perf_counter()
            await asyncio.gather(
                *(t.send_each(s, latencies) for t, s in zip(traders, signed, strict=True))
            )
            elapsed = time.perf_counter() - started
            print(
                f"round {round_no} sendTx      : {len(latencies) / elapsed:8.0f} tx/s "
                f"({len(latencies)} txs, {args.clients} clients; {percentiles(latencies)}); "
                f"signing {sign_rate:.0f} tx/s"
            )
            signed = [await t.sign(args.batches * 50) for t in traders]
            latencies = []
            started = time.perf_counter()
            await asyncio.gather(
                *(t.send_batches(s, 50, latencies) for t, s in zip(traders, signed, strict=True))
            )
            elapsed = time.perf_counter() - started
            txs = len(latencies) * 50
            print(
                f"round {round_no} sendTxBatch : {txs / elapsed:8.0f} tx/s "
                f"({len(latencies)} batches of 50; per batch {percentiles(latencies)})"
            )
    finally:
        for trader in traders:
            await trader.client.close()


# -- in-process matching ------------------------------------------------------------------------


def _order(account: int, nonce: int, price: int, is_ask: int, tif: int, now: int) -> dict[str, Any]:
    return {
        "AccountIndex": account, "ApiKeyIndex": 3, "MarketIndex": ETH,
        "ClientOrderIndex": nonce + 1, "BaseAmount": 100, "Price": price, "IsAsk": is_ask,
        "Type": 0, "TimeInForce": tif, "ReduceOnly": 0, "TriggerPrice": 0,
        "OrderExpiry": now + 86_400_000 if tif else 0, "ExpiredAt": now + 600_000,
        "Nonce": nonce, "Sig": "", "L2TxAttributes": None,
    }  # fmt: skip


def matching(rounds: int, orders: int) -> None:
    """Engine only: alternate resting maker orders and crossing taker orders."""
    from exchange.simulator.config import SimConfig
    from exchange.simulator.engine import Engine

    # Placeholder signatures: the engine-only figure leaves signature checks out.
    config = SimConfig.from_dict(
        {**BENCH_CONFIG, "liquidity": {"enabled": False}, "verify_signatures": False}
    )
    for round_no in range(1, rounds + 1):
        now = 1_800_000_000_000
        engine = Engine(config, now_ms=now)
        maker = engine.add_account("0x" + "1" * 40, Decimal("1000000000"), {3: "ab" * 40})
        taker = engine.add_account("0x" + "2" * 40, Decimal("1000000000"), {3: "cd" * 40})
        fills = 0
        started = time.perf_counter()
        for i in range(orders // 2):
            price = 300000 + i % 50
            # Nonce i for both: each account's i-th tx.
            engine.submit_tx(14, _order(maker.index, i, price, 1, 1, now), now_ms=now)
            engine.submit_tx(14, _order(taker.index, i, price, 0, 0, now), now_ms=now)
            fills += sum(1 for e in engine.advance(now) if type(e).__name__ == "TradeExecuted")
        elapsed = time.perf_counter() - started
        print(
            f"round {round_no} matching    : {orders / elapsed:8.0f} ops/s "
            f"({orders} orders, {fills} fills, {elapsed * 1e6 / orders:.1f} µs per order)"
        )


def _resting_ask(order_type: Any, i: int) -> Any:
    return order_type(
        order_index=(1 << 48) + i,
        client_order_index=i,
        market_id=ETH,
        owner_account_index=1,
        is_ask=True,
        type="limit",
        time_in_force="good-till-time",
        reduce_only=False,
        price=300000 + i % 100,
        trigger_price=0,
        initial_base_amount=100,
        remaining_base_amount=100,
    )


def book_ops(rounds: int, orders: int) -> None:
    """The engine's order book alone: rest makers, then match takers against the best level.

    One op = one add, or one taker fill (best order, reduce, remove)."""
    from exchange.simulator.book import OrderBook
    from exchange.simulator.types import Order

    for round_no in range(1, rounds + 1):
        book = OrderBook(ETH)
        makers = [_resting_ask(Order, i) for i in range(orders)]
        started = time.perf_counter()
        for maker in makers:
            book.add(maker)
        fills = 0
        while True:
            best = book.asks.best_order()
            if best is None:
                break
            book.asks.reduce(best, best.remaining_base_amount)
            book.asks.remove(best)
            fills += 1
        elapsed = time.perf_counter() - started
        ops = orders + fills
        print(
            f"round {round_no} book ops    : {ops / elapsed:8.0f} ops/s "
            f"({orders} adds + {fills} fills at the best level, 100 price levels)"
        )


def main() -> None:
    """Parse arguments and run the benchmark (or the server child)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=18089)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--txs", type=int, default=200, help="sendTx per client per round")
    parser.add_argument("--batches", type=int, default=10, help="batches per client per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--orders", type=int, default=100_000, help="matching orders per round")
    parser.add_argument(
        "--skip-signatures",
        action="store_true",
        help="end to end without the simulator's signature check (to see what it costs)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print("== in-process: the engine's order book alone")
    book_ops(args.rounds, args.orders)
    print("== in-process: full engine path per order (validate, queue, execute, match, events)")
    matching(args.rounds, args.orders // 5)
    child = start_simulator(
        args.port, {**BENCH_CONFIG, "verify_signatures": not args.skip_signatures}
    )
    try:
        print(f"== end to end (real signer, real HTTP, simulator in pid {child.pid})")
        asyncio.run(end_to_end(f"http://127.0.0.1:{args.port}", args))
    finally:
        child.terminate()
        child.wait(timeout=10)


if __name__ == "__main__":
    main()
