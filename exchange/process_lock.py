"""A FIFO lock shared by the event loops of one process (one per thread, as in a bots worker).

`asyncio.Lock` belongs to one loop; a `threading.Lock` would block a loop while it waits. This
lock queues each waiter as a future on its own loop and hands the lock over, in arrival order,
with `call_soon_threadsafe`: a waiter wakes the moment the holder releases, without polling.

`ProcessLock.named(key)` returns the one lock of the process for `key`, so independent clients
(one per bot) that must not interleave share it without knowing of each other.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import ClassVar


class ProcessLock:
    """Mutual exclusion across the event loops (threads) of one process, first come first served."""

    _named: ClassVar[dict[str, ProcessLock]] = {}
    _named_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    @classmethod
    def named(cls, key: str) -> ProcessLock:
        """The process's one lock for `key`."""
        with cls._named_guard:
            lock = cls._named.get(key)
            if lock is None:
                lock = cls._named[key] = cls()
            return lock

    @property
    def locked(self) -> bool:
        """True while some waiter of this process holds the lock."""
        return self._held

    async def acquire(self) -> None:
        """Wait for the lock (cancel-safe: a cancelled waiter never ends up holding it)."""
        loop = asyncio.get_running_loop()
        with self._mutex:
            if not self._held:
                self._held = True
                return
            granted: asyncio.Future[None] = loop.create_future()
            entry = (loop, granted)
            self._waiters.append(entry)
        try:
            await granted
        except asyncio.CancelledError:
            with self._mutex:
                if entry in self._waiters:
                    self._waiters.remove(entry)
                    raise
            # The lock was handed to us as we were cancelled: `_grant` saw the future cancelled
            # (or will) and passes the lock on, so there is nothing to undo here.
            if granted.done() and not granted.cancelled():
                self.release()
            raise

    def release(self) -> None:
        """Hand the lock to the longest waiter, or free it."""
        with self._mutex:
            if not self._held:
                raise RuntimeError("release of an unlocked ProcessLock")
            if not self._waiters:
                self._held = False
                return
            loop, granted = self._waiters.popleft()
        try:
            loop.call_soon_threadsafe(self._grant, granted)
        except RuntimeError:  # that waiter's loop is closed: it will never take the lock
            self.release()

    def _grant(self, granted: asyncio.Future[None]) -> None:
        # On the waiter's loop. A waiter cancelled after it left the queue must not keep the lock.
        if granted.cancelled():
            self.release()
        else:
            granted.set_result(None)
