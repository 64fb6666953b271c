"""Nonces of one (account, API key), handed out and sent under one Redis lock.

Lighter wants exactly consecutive nonces per (account_index, api_key_index) (lighter-api.md §5).
Several bots, processes or machines may share one key, so the next nonce lives in a Redis counter
and every sign+send happens while holding a per-(account, key) Redis lock:

    async with coordinator.reserve(count=3) as slot:
        sign and send with slot.nonces            # [n, n+1, n+2]
        slot.consume(2)                            # optional: only two were accepted

Leaving the block normally commits: the counter advances by `count` (or by what `consume` said).
If the block raises (429, 5xx, network error) nobody knows whether the exchange took the tx, so
the counter is resynced from the exchange's `nextNonce` before the lock is released: no gap and
no reuse can remain. After an invalid-nonce reply the caller calls `await slot.resync()` and
re-signs with the fresh `slot.nonces`.

The lock is a token-owned key with a TTL, renewed while held and deleted only by its owner (Lua
compare-and-delete), so a holder that dies frees the key after the TTL. A "pending" marker,
written when nonces are handed out and cleared on commit, tells the next holder that the previous
one died mid-send, and it resyncs from the exchange before using the counter.

Round trips: a reservation costs two. One script takes the lock if it is free and, in the same
step, reads the counter and the pending marker and writes this holder's marker; while another
process holds the lock it answers "not yet" and the caller polls again with a growing, jittered
pause. Another script commits the counter, clears the marker and releases the lock. Renewal needs
no round trip and no task for a hold shorter than a third of the TTL (one sign and one POST):
a timer starts the renewing task only when the first renewal is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis

from exchange.errors import pause
from exchange.process_lock import ProcessLock

logger = logging.getLogger(__name__)

KEY_PREFIX = "lighterweb:nonce"
DEFAULT_LOCK_TTL_S = 10.0
DEFAULT_LOCK_WAIT_S = 60.0
# polling the lock key: short enough for hundreds of orders per second across processes
_POLL_MIN_S = 0.001
_POLL_MAX_S = 0.02

# KEYS[1] lock; ARGV token, ttl_ms -> 1 when the caller still owns the lock and it was extended
_RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS[1] lock; ARGV token -> 1 when deleted by its owner
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] lock, KEYS[2] counter, KEYS[3] pending; ARGV token, ttl_ms.
# Takes the lock if it is free and, in the same step, reads the counter, tells whether a holder
# died mid-send (a pending mark left behind) and marks this holder's send as pending until it
# commits. -> {1, counter or false, 1 if a holder died mid-send}, or {0} while another holds it.
_ACQUIRE_LUA = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0} end
local counter = redis.call('GET', KEYS[2])
local died = redis.call('EXISTS', KEYS[3])
redis.call('SET', KEYS[3], ARGV[1])
return {1, counter, died}
"""

# KEYS[1] lock, KEYS[2] counter, KEYS[3] pending; ARGV token, next nonce (or '' to forget it).
# Commits and releases in one step, only while the caller owns the lock; returns 1 if written.
_COMMIT_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[2])
else
  redis.call('SET', KEYS[2], ARGV[2])
end
redis.call('DEL', KEYS[3])
redis.call('DEL', KEYS[1])
return 1
"""


class NonceLockTimeout(TimeoutError):
    """The per-key lock could not be taken within the wait limit."""


class NonceSlot:
    """Consecutive nonces reserved under the lock; valid only inside `reserve()`."""

    def __init__(self, coordinator: NonceCoordinator, base: int, count: int) -> None:
        self._coordinator = coordinator
        self.base = base
        self.count = count
        self.consumed = count

    @property
    def nonces(self) -> list[int]:
        """The reserved nonces, consecutive, starting at the exchange's next expected one."""
        return list(range(self.base, self.base + self.count))

    def consume(self, n: int) -> None:
        """Declare that only the first `n` nonces were accepted; the rest are handed out again."""
        if not 0 <= n <= self.count:
            raise ValueError(f"consume({n}) outside 0..{self.count}")
        self.consumed = n

    async def resync(self) -> list[int]:
        """Re-read the exchange's next nonce (after an invalid-nonce reply); return fresh nonces."""
        fresh = await self._coordinator.fetch_next_nonce()
        logger.info(
            "nonce resync for account %s key %s: %s -> %s",
            self._coordinator.account_index,
            self._coordinator.api_key_index,
            self.base,
            fresh,
        )
        self.base = fresh
        self.consumed = self.count
        return self.nonces


def _server_of(redis: aioredis.Redis) -> str:
    where = redis.connection_pool.connection_kwargs
    return f"{where.get('host')}:{where.get('port')}{where.get('path', '')}/{where.get('db')}"


class NonceCoordinator:
    """Serialises sign+send per (account, API key) across tasks, processes and machines.

    Coordinators of one process (any loop, any thread) queue on one `ProcessLock` per key;
    processes and machines coordinate through the Redis lock.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        account_index: int,
        api_key_index: int,
        fetch_next_nonce: Callable[[], Awaitable[int]],
        lock_ttl_s: float = DEFAULT_LOCK_TTL_S,
        lock_wait_s: float = DEFAULT_LOCK_WAIT_S,
        local_lock: ProcessLock | None = None,
    ) -> None:
        if lock_ttl_s <= 0:
            raise ValueError("lock_ttl_s must be positive")
        self.redis = redis
        self.account_index = account_index
        self.api_key_index = api_key_index
        self.fetch_next_nonce = fetch_next_nonce
        self.lock_ttl_s = lock_ttl_s
        self.lock_wait_s = lock_wait_s
        root = f"{KEY_PREFIX}:{account_index}:{api_key_index}"
        self.lock_key = f"{root}:lock"
        self.counter_key = f"{root}:next"
        self.pending_key = f"{root}:pending"
        # Tasks of this process, on any thread's loop, queue here first (first come first served,
        # woken at once on release), so only one of them at a time takes the Redis lock.
        self._local = local_lock or ProcessLock.named(f"{_server_of(redis)}|{root}")
        self._renew = redis.register_script(_RENEW_LUA)
        self._release = redis.register_script(_RELEASE_LUA)
        self._acquire = redis.register_script(_ACQUIRE_LUA)
        self._commit = redis.register_script(_COMMIT_LUA)

    def __repr__(self) -> str:
        return f"NonceCoordinator(account={self.account_index}, api_key={self.api_key_index})"

    @contextlib.asynccontextmanager
    async def reserve(self, count: int = 1) -> AsyncIterator[NonceSlot]:
        """Hold the key's lock and yield `count` consecutive nonces; commit or resync on exit."""
        if count < 1:
            raise ValueError("count must be at least 1")
        async with self._local_turn():
            token = uuid.uuid4().hex
            counter, died = await self._acquire_lock(token)
            renewal = _Renewal(self._keep_renewed, token, self.lock_ttl_s / 3)
            committed = False
            try:
                slot = NonceSlot(self, await self._start(counter, died), count)
                try:
                    yield slot
                except BaseException:
                    fresh = await self._resync_after_failure()
                    await renewal.stop()
                    committed = await self._commit_and_release(token, fresh)
                    raise
                await renewal.stop()
                # If the lock expired while held (a stall beyond the TTL) the commit is refused and
                # the next holder may reuse our nonces: the exchange answers invalid-nonce and that
                # holder resyncs. Raising here instead would report a sent tx as failed.
                committed = await self._commit_and_release(token, str(slot.base + slot.consumed))
            finally:
                await renewal.stop()
                if not committed:
                    await self._release(keys=[self.lock_key], args=[token])

    @contextlib.asynccontextmanager
    async def _local_turn(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.lock_wait_s):
                await self._local.acquire()
        except TimeoutError:
            raise NonceLockTimeout(
                f"nonce lock of account {self.account_index} key {self.api_key_index} "
                f"not free in this process within {self.lock_wait_s:g}s"
            ) from None
        try:
            yield
        finally:
            self._local.release()

    async def peek(self) -> int | None:
        """The counter's next nonce, or None when it must be (re)read from the exchange."""
        raw = await self.redis.get(self.counter_key)
        return None if raw is None else int(raw)

    async def _acquire_lock(self, token: str) -> tuple[bytes | str | None, bool]:
        """Take the Redis lock (polling with backoff while another process holds it) and begin
        the send in the same script: returns the counter (None when unknown) and whether the
        previous holder died mid-send."""
        ttl_ms = int(self.lock_ttl_s * 1000)
        keys = [self.lock_key, self.counter_key, self.pending_key]
        deadline = time.monotonic() + self.lock_wait_s
        delay = _POLL_MIN_S
        while True:
            taken = await self._acquire(keys=keys, args=[token, ttl_ms])
            if taken[0]:
                return taken[1], bool(taken[2])
            if time.monotonic() > deadline:
                raise NonceLockTimeout(
                    f"nonce lock of account {self.account_index} key {self.api_key_index} "
                    f"not free within {self.lock_wait_s:g}s"
                )
            await pause(random.uniform(_POLL_MIN_S, delay))
            delay = min(_POLL_MAX_S, delay * 2)

    async def _start(self, counter: bytes | str | None, died: bool) -> int:
        """The first nonce to hand out, read from the exchange when unknown or possibly stale."""
        if counter is not None and not died:
            return int(counter)
        if died:
            logger.warning(
                "previous holder of nonce lock (account %s key %s) died mid-send; resyncing",
                self.account_index,
                self.api_key_index,
            )
        return await self.fetch_next_nonce()

    async def _resync_after_failure(self) -> str:
        """The block raised: the tx may or may not have landed, so ask the exchange.

        Returns the next nonce as text, or "" when it could not be read (then forgotten).
        """
        try:
            return str(await self.fetch_next_nonce())
        # Any failure of the exchange read (the caller's typed errors included) must still clear
        # the counter; the block's own exception is re-raised by reserve(), so nothing is hidden.
        except Exception as exc:
            # cannot learn the truth now: forget the counter so the next holder asks the exchange
            logger.warning(
                "nonce resync failed for account %s key %s (%s); counter cleared",
                self.account_index,
                self.api_key_index,
                exc,
            )
            return ""

    async def _commit_and_release(self, token: str, next_nonce: str) -> bool:
        """Store the next nonce ("" forgets it), clear the pending mark and free the lock."""
        written = await self._commit(
            keys=[self.lock_key, self.counter_key, self.pending_key], args=[token, next_nonce]
        )
        return bool(written)

    async def _keep_renewed(self, token: str) -> None:
        """Renew now, then every third of the TTL; stops (logging it) once the lock is lost."""
        ttl_ms = int(self.lock_ttl_s * 1000)
        while True:
            if not await self._renew(keys=[self.lock_key], args=[token, ttl_ms]):
                logger.error(
                    "nonce lock of account %s key %s lost while held",
                    self.account_index,
                    self.api_key_index,
                )
                return
            await pause(self.lock_ttl_s / 3)


class _Renewal:
    """Keeps a held lock renewed every third of its TTL, for as long as the hold lasts.

    Most holds (one sign and one POST) end long before the first renewal is due, so no task is
    made for them: only a timer, and the renewing task starts when that timer fires.
    """

    __slots__ = ("_renew", "_task", "_timer", "_token")

    def __init__(
        self, renew: Callable[[str], Coroutine[Any, Any, None]], token: str, first_in_s: float
    ) -> None:
        self._renew = renew
        self._token = token
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            first_in_s, self._due
        )

    def _due(self) -> None:
        self._timer = None
        self._task = asyncio.get_running_loop().create_task(self._renew(self._token))

    async def stop(self) -> None:
        """Stop renewing (idempotent). Called before the commit: the lock then still has two
        thirds of its TTL, and a renewal racing the commit's delete would log a false "lock
        lost"."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
