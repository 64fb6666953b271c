"""Redis round trips of one transaction send, counted by a real Redis (MONITOR).

Each round trip costs the sending loop a redis-py call (issue #9): a send takes the request
budget (one script), then the nonce lock together with the counter (one script), then commits
and releases (one script). Counted on a Redis server of the test's own, so nothing else's
commands mix in; commands run inside a script are not round trips and are left out.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from exchange.nonces import NonceCoordinator
from exchange.process_lock import ProcessLock
from exchange.types import OrderSide
from lighterweb.redis_server import EmbeddedRedis, free_port
from tests.exchange.conftest import client_for

MARK = "round-trips-counted"


@pytest.fixture
def own_redis() -> Iterator[str]:
    """The URL of a Redis server that only this test talks to."""
    with EmbeddedRedis(port=free_port(), data_dir=Path(tempfile.mkdtemp(prefix="lw-rt-"))) as s:
        yield s.url


class Monitor:
    """The commands clients send to a Redis server, from `start()` until `commands()`."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._monitor = self._client.monitor()

    def __enter__(self) -> Monitor:
        self._monitor.__enter__()  # MONITOR is on from here: later commands are streamed to us
        return self

    def __exit__(self, *exc: object) -> None:
        self._monitor.__exit__(*exc)
        self._client.close()

    def commands(self) -> list[str]:
        """The client commands seen so far (those run inside scripts left out), by name."""
        self._client.echo(MARK)
        seen: list[str] = []
        while True:
            entry = self._monitor.next_command()
            if entry.get("client_type") == "lua":
                continue
            command = entry["command"]
            if command == f"ECHO {MARK}":
                return seen
            seen.append(command.split(" ", 1)[0].upper())


async def _ledger_next() -> int:
    return 100


async def test_a_reservation_takes_two_round_trips(own_redis: str) -> None:
    client = aioredis.Redis.from_url(own_redis)
    coordinator = NonceCoordinator(client, 7, 4, _ledger_next, local_lock=ProcessLock())
    try:
        async with coordinator.reserve(1):  # scripts loaded, counter known
            pass
        with Monitor(own_redis) as monitor:
            async with coordinator.reserve(2) as slot:
                assert slot.nonces == [101, 102]
            # lock + counter + pending mark in one script; commit + release in another
            assert monitor.commands() == ["EVALSHA", "EVALSHA"]
    finally:
        await client.aclose()


async def test_an_order_sent_takes_three_round_trips(
    simulator, funded_account, own_redis: str
) -> None:
    async with client_for(simulator, funded_account, own_redis) as client:
        top = (await client.order_book(0)).top()
        price = top.bid - 50
        await client.place_order(0, OrderSide.BUY, Decimal("0.1"), price, 1)  # warm
        with Monitor(own_redis) as monitor:
            await client.place_order(0, OrderSide.BUY, Decimal("0.1"), price, 2)
            # the request budget, the nonce lock with the counter, the commit with the release
            assert monitor.commands() == ["EVALSHA", "EVALSHA", "EVALSHA"]
