"""NonceCoordinator against a real Redis: consecutive nonces across tasks and OS processes.

The exchange edge is a ledger in Redis that behaves like Lighter's sequencer for one
(account, key): it accepts exactly the next nonce and answers "invalid nonce" to anything else,
and `nextNonce` reads its counter. Several processes can therefore share it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio as aioredis

from exchange.nonces import NonceCoordinator, NonceLockTimeout
from exchange.process_lock import ProcessLock
from tests.exchange.conftest import drop_own_cancel, ended_cancelled

ACCOUNT = 7
API_KEY = 4
LEDGER_NEXT = "test:ledger:next"
LEDGER_ACCEPTED = "test:ledger:accepted"
LEDGER_REJECTED = "test:ledger:rejected"

# accept ARGV[1] only when it is the next expected nonce (what Lighter's sequencer does)
_SEND_LUA = """
local expected = tonumber(redis.call('GET', KEYS[1]) or ARGV[2])
if tonumber(ARGV[1]) == expected then
  redis.call('SET', KEYS[1], expected + 1)
  redis.call('RPUSH', KEYS[2], ARGV[1])
  return 1
end
redis.call('INCR', KEYS[3])
return 0
"""


class Ledger:
    """The exchange's view of one (account, key): next nonce, accepted nonces, rejections."""

    def __init__(self, client: aioredis.Redis, start: int = 0) -> None:
        self.client = client
        self.start = start
        self._send = client.register_script(_SEND_LUA)

    async def next_nonce(self) -> int:
        raw = await self.client.get(LEDGER_NEXT)
        return self.start if raw is None else int(raw)

    async def send(self, nonce: int) -> bool:
        """True when accepted; False is Lighter's 21104 invalid nonce."""
        accepted = await self._send(
            keys=[LEDGER_NEXT, LEDGER_ACCEPTED, LEDGER_REJECTED], args=[nonce, self.start]
        )
        return bool(accepted)

    async def accepted(self) -> list[int]:
        return [int(n) for n in await self.client.lrange(LEDGER_ACCEPTED, 0, -1)]


@pytest.fixture
async def aredis(redis_client: redis.Redis, redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def ledger(aredis: aioredis.Redis) -> Ledger:
    return Ledger(aredis, start=100)


def coordinator_for(client: aioredis.Redis, ledger: Ledger, **kwargs: float) -> NonceCoordinator:
    """A coordinator standing for its own process: coordinators of one process share an
    in-process queue, so each test coordinator gets its own to meet the others in Redis."""
    return NonceCoordinator(
        client, ACCOUNT, API_KEY, ledger.next_nonce, local_lock=ProcessLock(), **kwargs
    )


async def send_with_retry(coordinator: NonceCoordinator, ledger: Ledger, count: int) -> int:
    """Send `count` txs in one reservation, resyncing once on invalid nonce; errors surfaced."""
    async with coordinator.reserve(count) as slot:
        for attempt in range(2):
            results = [await ledger.send(n) for n in slot.nonces]
            if all(results):
                return 0
            if attempt == 0 and not results[0]:
                await slot.resync()
                continue
            slot.consume(results.index(False))
            return 1
    return 1


async def test_first_reservation_starts_at_exchange_next_nonce(
    aredis: aioredis.Redis, ledger: Ledger
) -> None:
    async with coordinator_for(aredis, ledger).reserve(3) as slot:
        assert slot.nonces == [100, 101, 102]


async def test_leaving_block_normally_advances_counter_by_count(
    aredis: aioredis.Redis, ledger: Ledger
) -> None:
    coordinator = coordinator_for(aredis, ledger)
    async with coordinator.reserve(3):
        pass
    async with coordinator.reserve(1) as slot:
        assert slot.nonces == [103]


async def test_consume_advances_counter_only_by_accepted_count(
    aredis: aioredis.Redis, ledger: Ledger
) -> None:
    coordinator = coordinator_for(aredis, ledger)
    async with coordinator.reserve(5) as slot:
        slot.consume(2)
    assert await coordinator.peek() == 102


async def test_consume_outside_reserved_range_is_refused(
    aredis: aioredis.Redis, ledger: Ledger
) -> None:
    async with coordinator_for(aredis, ledger).reserve(2) as slot:
        with pytest.raises(ValueError, match=r"outside 0\.\.2"):
            slot.consume(3)


async def test_error_in_block_resyncs_counter_from_exchange(
    aredis: aioredis.Redis, ledger: Ledger
) -> None:
    coordinator = coordinator_for(aredis, ledger)
    with pytest.raises(ConnectionError):
        async with coordinator.reserve(3) as slot:
            # the first tx landed before the network failed; the exchange knows, we do not
            assert await ledger.send(slot.nonces[0])
            raise ConnectionError("reset by peer")
    assert await coordinator.peek() == 101


async def test_failed_resync_clears_counter_so_next_holder_asks_exchange(
    aredis: aioredis.Redis, ledger: Ledger
) -> None:
    calls = 0

    async def flaky_next_nonce() -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("exchange unreachable")
        return await ledger.next_nonce()

    coordinator = NonceCoordinator(aredis, ACCOUNT, API_KEY, flaky_next_nonce)
    with pytest.raises(TimeoutError):
        async with coordinator.reserve(1):
            raise TimeoutError("sendTx timed out")
    assert await coordinator.peek() is None


async def test_resync_after_invalid_nonce_gives_exchange_nonces(
    aredis: aioredis.Redis, ledger: Ledger
) -> None:
    coordinator = coordinator_for(aredis, ledger)
    assert await send_with_retry(coordinator, ledger, 1) == 0
    # someone outside the coordinator used the key: our counter (101) is now behind
    assert await ledger.send(101)
    assert await ledger.send(102)
    async with coordinator.reserve(2) as slot:
        assert not await ledger.send(slot.nonces[0])
        assert await slot.resync() == [103, 104]
    assert await coordinator.peek() == 105


async def test_many_tasks_get_consecutive_never_duplicated_nonces(
    aredis: aioredis.Redis, ledger: Ledger
) -> None:
    coordinators = [coordinator_for(aredis, ledger) for _ in range(4)]
    sizes = [1 + (i % 3) for i in range(120)]

    errors = await asyncio.gather(
        *(send_with_retry(coordinators[i % 4], ledger, size) for i, size in enumerate(sizes))
    )

    assert sum(errors) == 0
    assert await ledger.accepted() == list(range(100, 100 + sum(sizes)))
    assert await aredis.get(LEDGER_REJECTED) is None


def _process_worker(redis_url: str, txs: int) -> None:
    async def run() -> None:
        client = aioredis.Redis.from_url(redis_url)
        ledger = Ledger(client, start=100)
        coordinator = NonceCoordinator(client, ACCOUNT, API_KEY, ledger.next_nonce)
        errors = sum([await send_with_retry(coordinator, ledger, 1) for _ in range(txs)])
        await client.incrby("test:surfaced_errors", errors)
        await client.aclose()

    asyncio.run(run())


def _spawn(target: object, *args: object) -> multiprocessing.process.BaseProcess:
    context = multiprocessing.get_context("spawn")
    process = context.Process(target=target, args=args, daemon=True)  # type: ignore[attr-defined]
    process.start()
    return process


@pytest.mark.slow
async def test_several_processes_sharing_a_key_get_consecutive_nonces(
    aredis: aioredis.Redis, ledger: Ledger, redis_url: str
) -> None:
    workers = [_spawn(_process_worker, redis_url, 50) for _ in range(4)]
    for worker in workers:
        await asyncio.to_thread(worker.join, 120)

    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    assert int(await aredis.get("test:surfaced_errors") or 0) == 0
    assert await ledger.accepted() == list(range(100, 300))
    assert await aredis.get(LEDGER_REJECTED) is None


def _hanging_holder(redis_url: str) -> None:
    async def run() -> None:
        client = aioredis.Redis.from_url(redis_url)
        ledger = Ledger(client, start=100)
        coordinator = NonceCoordinator(client, ACCOUNT, API_KEY, ledger.next_nonce, lock_ttl_s=1)
        async with coordinator.reserve(1) as slot:
            await ledger.send(slot.nonces[0])
            await client.rpush("test:holder_ready", 1)
            await asyncio.Event().wait()  # hold the lock until killed

    asyncio.run(run())


@pytest.mark.slow
async def test_killed_lock_holder_frees_key_after_ttl_and_next_holder_resyncs(
    aredis: aioredis.Redis, ledger: Ledger, redis_url: str
) -> None:
    coordinator = coordinator_for(aredis, ledger, lock_wait_s=15)
    assert await send_with_retry(coordinator, ledger, 1) == 0  # counter now says 101
    holder = _spawn(_hanging_holder, redis_url)
    assert await aredis.blpop(["test:holder_ready"], timeout=30) is not None

    holder.kill()
    await asyncio.to_thread(holder.join, 10)

    async with coordinator.reserve(1) as slot:
        # the dead holder's tx (101) landed; its commit never happened
        assert slot.nonces == [102]


async def test_lock_is_renewed_while_held(aredis: aioredis.Redis, ledger: Ledger) -> None:
    # The other waits twice the TTL: without renewals the lock would expire while it waits. A
    # renewal is due every third of the TTL, so the holder's loop has a whole second to make
    # one; with a 0.3 s TTL (0.2 s of slack) a CI machine busy with the PostgreSQL pass let the
    # lock expire once.
    holder = coordinator_for(aredis, ledger, lock_ttl_s=1.5)
    other = coordinator_for(aredis, ledger, lock_wait_s=3.0)
    async with holder.reserve(1):
        with pytest.raises(NonceLockTimeout):
            async with other.reserve(1):
                pass


async def test_expired_holder_never_releases_the_next_owners_lock(
    aredis: aioredis.Redis, ledger: Ledger
) -> None:
    first = coordinator_for(aredis, ledger)
    second = coordinator_for(aredis, ledger, lock_wait_s=0.5)
    async with first.reserve(1):
        # as if the TTL had expired during a stall, another owner takes the key
        await aredis.delete(first.lock_key)
        await aredis.set(first.lock_key, "someone-else")
    assert await aredis.get(first.lock_key) == b"someone-else"
    with pytest.raises(NonceLockTimeout):
        async with second.reserve(1):
            pass


async def test_commit_after_lock_expired_does_not_move_counter(
    aredis: aioredis.Redis, ledger: Ledger
) -> None:
    coordinator = coordinator_for(aredis, ledger)
    async with coordinator.reserve(1):
        pass
    async with coordinator.reserve(4):
        await aredis.set(coordinator.lock_key, "someone-else")
    assert await coordinator.peek() == 101


def test_coordinators_of_one_process_queue_on_one_lock_across_threads(redis_url: str) -> None:
    # Two bots' clients in one worker, each on its own thread and loop: the second waits in the
    # process's queue (woken on release), not by polling Redis.
    held, done = threading.Event(), threading.Event()
    key_root = f"{ACCOUNT + 1}"  # a key of its own: no other test's coordinators share the queue

    async def coordinator() -> NonceCoordinator:
        client = aioredis.Redis.from_url(redis_url)
        ledger = Ledger(client, start=100)
        return NonceCoordinator(client, int(key_root), API_KEY, ledger.next_nonce, lock_wait_s=0.3)

    async def hold() -> None:
        first = await coordinator()
        async with first.reserve(1):
            held.set()
            await asyncio.to_thread(done.wait, 10)
        await first.redis.aclose()

    async def wait() -> str:
        second = await coordinator()
        try:
            with pytest.raises(NonceLockTimeout) as refused:
                async with second.reserve(1):
                    pass
            return str(refused.value)
        finally:
            await second.redis.aclose()

    holder = threading.Thread(target=asyncio.run, args=(hold(),))
    holder.start()
    try:
        assert held.wait(10)
        assert "in this process" in asyncio.run(wait())
    finally:
        done.set()
        holder.join(10)


async def test_holder_that_died_after_taking_nonces_makes_the_next_holder_resync(
    aredis: aioredis.Redis, ledger: Ledger
) -> None:
    coordinator = coordinator_for(aredis, ledger)
    assert await send_with_retry(coordinator, ledger, 1) == 0  # counter now says 101
    # A holder took the lock and nonce 101, sent it, and died before committing: its pending
    # mark stays, its lock expires.
    await aredis.set(coordinator.pending_key, "dead-holder")
    assert await ledger.send(101)

    async with coordinator.reserve(1) as slot:
        assert slot.nonces == [102]
    assert await aredis.get(coordinator.pending_key) is None
    assert await coordinator.peek() == 103


async def test_a_short_hold_starts_no_renewing_task(aredis: aioredis.Redis, ledger: Ledger) -> None:
    coordinator = coordinator_for(aredis, ledger)
    before = asyncio.all_tasks()
    async with coordinator.reserve(1):
        # a renewal is due only after a third of the TTL (10 s): until then, a timer, no task
        assert not asyncio.all_tasks() - before
    assert await coordinator.peek() == 101


async def test_lock_lost_while_held_is_logged(
    aredis: aioredis.Redis, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    coordinator = coordinator_for(aredis, ledger, lock_ttl_s=0.3)
    async with coordinator.reserve(1):
        await aredis.set(coordinator.lock_key, "someone-else")
        for _ in range(200):  # the first renewal is due 0.1 s after the lock was taken
            if "lost while held" in caplog.text:
                break
            await asyncio.sleep(0.05)
    assert "nonce lock of account 7 key 4 lost while held" in caplog.text
    assert await aredis.get(coordinator.lock_key) == b"someone-else"


async def test_a_wait_for_the_lock_ends_at_its_next_poll_when_its_cancel_was_dropped(
    aredis: aioredis.Redis, ledger: Ledger
) -> None:
    """A send cancelled while redis-py's call returned (the cancel dropped, see
    `exchange.errors.cancel_point`) polled for the lock on until its wait ran out."""
    holder = coordinator_for(aredis, ledger)
    waiter = coordinator_for(aredis, ledger, lock_wait_s=30)

    async def dropped_then_reserve() -> None:
        await drop_own_cancel()
        async with waiter.reserve(1):
            pass

    async with holder.reserve(1):
        assert await ended_cancelled(asyncio.create_task(dropped_then_reserve()), 5)
    assert await aredis.get(holder.lock_key) is None
