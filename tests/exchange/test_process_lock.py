"""ProcessLock: one FIFO lock for the event loops of a process (a bots worker runs each bot on
its own thread and loop); hand-over in arrival order, and no cancelled waiter ever keeps it."""

from __future__ import annotations

import asyncio
import threading

import pytest

from exchange.process_lock import ProcessLock


def test_named_locks_are_one_per_key() -> None:
    assert ProcessLock.named("a") is ProcessLock.named("a")
    assert ProcessLock.named("a") is not ProcessLock.named("b")


def test_releasing_a_free_lock_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="unlocked"):
        ProcessLock().release()


def test_waiters_on_other_threads_get_the_lock_in_arrival_order() -> None:
    lock, order = ProcessLock(), []
    queued = [threading.Event() for _ in range(3)]

    async def take(n: int) -> None:
        task = asyncio.ensure_future(lock.acquire())
        await asyncio.sleep(0)  # now queued behind the holder
        queued[n].set()
        await task
        order.append(n)
        lock.release()

    async def main() -> None:
        await lock.acquire()
        threads = []
        for n in range(3):
            thread = threading.Thread(target=asyncio.run, args=(take(n),))
            thread.start()
            assert await asyncio.to_thread(queued[n].wait, 10)
            threads.append(thread)
        assert order == []
        lock.release()
        for thread in threads:
            await asyncio.to_thread(thread.join, 10)

    asyncio.run(main())
    assert order == [0, 1, 2]
    assert not lock.locked


async def test_a_waiter_cancelled_in_the_queue_never_holds_the_lock() -> None:
    lock = ProcessLock()
    await lock.acquire()
    waiter = asyncio.ensure_future(lock.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    lock.release()
    assert not lock.locked


async def test_a_waiter_cancelled_as_the_lock_is_handed_to_it_passes_it_on() -> None:
    lock = ProcessLock()
    await lock.acquire()
    first = asyncio.ensure_future(lock.acquire())
    second = asyncio.ensure_future(lock.acquire())
    await asyncio.sleep(0)
    lock.release()  # hands the lock to `first` (granted on its loop's next turn) ...
    first.cancel()  # ... which is cancelled in the same turn
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 5)  # the lock went on to the next waiter
    assert lock.locked
    lock.release()
    assert not lock.locked


async def test_a_timeout_while_queued_leaves_the_lock_to_its_holder() -> None:
    lock = ProcessLock()
    await lock.acquire()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await lock.acquire()
    assert lock.locked
    lock.release()
    assert not lock.locked
