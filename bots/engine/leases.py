"""One runner per bot: a Redis lease with a fencing number stored on the bot row.

A bot task holds `BotLease` while it runs. The lease is a Redis key with a TTL, renewed by the
runner's heartbeat; a holder that dies (SIGKILL, lost machine) loses it when the TTL runs out and
the supervisor starts a new task. Every acquisition draws a new, larger fencing number from a
Redis counter; the holder stores it on the bot row (`fence_claim`, only if larger) and every
later write of the runner is conditional on it (`bots.engine.recording`). A paused or partitioned
old
holder that wakes up after a successor took over therefore fails its next write with `LeaseLost`
instead of corrupting the successor's state (a fencing token).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol, cast

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from redis.commands.core import AsyncScript

from bots.models import Bot

logger = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 15

# Acquire: take the key only if free, and only then draw the fence, so a refused attempt
# does not burn fencing numbers. The floor (the fence stored in the database) lifts the counter
# when Redis lost it (flushed, restarted without persistence): fences must keep growing.
_ACQUIRE = """
if redis.call('exists', KEYS[1]) == 1 then return false end
local fence = redis.call('incr', KEYS[2])
local floor = tonumber(ARGV[2])
if fence <= floor then
  fence = floor + 1
  redis.call('set', KEYS[2], fence)
end
redis.call('set', KEYS[1], fence, 'PX', ARGV[1])
return fence
"""
# Renew and release touch the key only while it still holds our fence.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class Lease(Protocol):
    """What a runner needs of its lease (`BotLease`)."""

    def renew(self) -> bool:
        """Extend the lease; False when another holder took it."""
        ...

    async def arenew(self, client: aioredis.Redis | None = None) -> bool:
        """`renew` from the runner's loop, through `client` when given (`BotLease.arenew`)."""
        ...

    def keep(self) -> int | None:
        """Renew from the heartbeat: the fence to go on with, or None when another holder took
        the lease (see `BotLease.keep`)."""
        ...


def lease_ttl_seconds() -> float:
    """Lease TTL of bot tasks (setting BOT_LEASE_TTL_SECONDS, default 15)."""
    return float(settings.BOT_LEASE_TTL_SECONDS)


def lease_key(bot_id: int) -> str:
    """Redis key of a bot's lease (value: the holder's fence)."""
    return f"lighterweb:bot-lease:{bot_id}"


def fence_counter_key(bot_id: int) -> str:
    """Redis key of a bot's fencing counter (never reset: fences only grow)."""
    return f"lighterweb:bot-fence:{bot_id}"


class BotLease:
    """The lease of one bot in Redis: `acquire`, `renew` from the heartbeat, `release`."""

    def __init__(
        self, redis_client: redis.Redis, bot_id: int, ttl_s: float = DEFAULT_TTL_SECONDS
    ) -> None:
        self.redis = redis_client
        self.bot_id = bot_id
        self.ttl_ms = int(ttl_s * 1000)
        self.fence: int | None = None
        # Renewed before every send: by its hash (EVALSHA), not the script's text each time.
        self._renew = redis_client.register_script(_RENEW)
        # The same script on the asyncio client `arenew` was last given.
        self._async_renew: tuple[aioredis.Redis, AsyncScript] | None = None

    def __repr__(self) -> str:
        return f"<BotLease bot={self.bot_id} fence={self.fence}>"

    def acquire(self, *, floor: int = 0) -> int | None:
        """Take the lease; the new fencing number, or None while another holder is alive.

        The fence is larger than `floor` (pass the bot row's `lease_fence`).
        """
        fence = self.redis.eval(
            _ACQUIRE,
            2,
            lease_key(self.bot_id),
            fence_counter_key(self.bot_id),
            self.ttl_ms,
            floor,
        )
        if fence is None:
            return None
        self.fence = int(cast(str, fence))  # a sync client: never an Awaitable
        logger.info("bot %s: lease acquired with fence %s", self.bot_id, self.fence)
        return self.fence

    def renew(self) -> bool:
        """Extend the TTL; False when the lease expired or passed to another holder. Run by the
        heartbeat and right before every send (a runner that lost the lease never sends)."""
        if self.fence is None:
            return False
        renewed = self._renew(keys=[lease_key(self.bot_id)], args=[self.fence, self.ttl_ms])
        if not renewed:
            logger.warning("bot %s: lease with fence %s lost", self.bot_id, self.fence)
        return bool(renewed)

    def keep(self) -> int | None:
        """Renew from the heartbeat: the fence to go on with, or None when another holder has
        the lease (the runner must end).

        Redis unreachable is weather: nobody can take the lease while it is away, so the holder
        goes on with its fence (its sends still renew first, which fails meanwhile).
        A lease that expired with nobody else holding it (Redis restarted empty, or back after
        more than the TTL) is taken again with a larger fence, claimed on the bot row first, so
        a restart the supervisor queued meanwhile finds it busy instead of running twice."""
        if self.fence is None:
            return None
        try:
            if self.renew():
                return self.fence
            current = self.fence
            fence = self.acquire(floor=current)
        except redis.RedisError as exc:
            logger.warning("bot %s: lease not renewed, Redis unreachable (%s)", self.bot_id, exc)
            return self.fence
        if fence is None:
            self.fence = current
            return None
        if not fence_claim(self.bot_id, fence):
            return None
        logger.warning("bot %s: lease had expired; taken again with fence %s", self.bot_id, fence)
        return fence

    async def arenew(self, client: aioredis.Redis | None = None) -> bool:
        """`renew` from an event loop: through `client`, an asyncio client of the same Redis
        (a runner passes its exchange client's), else on a worker thread (this client is
        blocking). A send's renewal then costs a round trip and no thread hand-over."""
        if client is None:
            return await asyncio.to_thread(self.renew)
        if self.fence is None:
            return False
        if self._async_renew is None or self._async_renew[0] is not client:
            self._async_renew = (client, client.register_script(_RENEW))
        renewed = await self._async_renew[1](
            keys=[lease_key(self.bot_id)], args=[self.fence, self.ttl_ms]
        )
        if not renewed:
            logger.warning("bot %s: lease with fence %s lost", self.bot_id, self.fence)
        return bool(renewed)

    def release(self) -> None:
        """Give the lease up if we still hold it (a successor's lease is left alone)."""
        if self.fence is None:
            return
        self.redis.eval(_RELEASE, 1, lease_key(self.bot_id), self.fence)
        logger.info("bot %s: lease with fence %s released", self.bot_id, self.fence)
        self.fence = None


# Bots whose runner ended because its worker shut down: the next worker to start runs them.
RESUME_KEY = "lighterweb:bots-to-resume"


def resume_later(redis_client: redis.Redis, bot_id: int) -> None:
    """Note a bot whose runner a worker shutdown ended (the supervisor leaves it alone)."""
    redis_client.sadd(RESUME_KEY, bot_id)


def resume_waiting(redis_client: redis.Redis, bot_id: int) -> bool:
    """Whether the bot waits for the next worker to resume it."""
    return bool(redis_client.sismember(RESUME_KEY, str(bot_id)))


def resume_take(redis_client: redis.Redis) -> list[int]:
    """Take every bot waiting to resume (a worker just started)."""
    ids = cast(list[bytes], redis_client.spop(RESUME_KEY, 10_000) or [])
    return sorted(int(i) for i in ids)


def lease_holder(redis_client: redis.Redis, bot_id: int) -> int | None:
    """The fence of the live holder of a bot's lease, or None when nobody holds it."""
    value = redis_client.get(lease_key(bot_id))
    return None if value is None else int(cast(bytes, value))  # a sync client: never an Awaitable


def fence_floor(bot_id: int) -> int:
    """The fence stored on the bot row (0 for an unknown bot): new fences must exceed it."""
    stored = Bot.objects.filter(pk=bot_id).values_list("lease_fence", flat=True).first()
    return stored or 0


def fence_claim(bot_id: int, fence: int) -> bool:
    """Store `fence` on the bot row if it is larger than the stored one; False if outfenced."""
    claimed = Bot.objects.filter(Q(pk=bot_id) & Q(lease_fence__lt=fence)).update(
        lease_fence=fence, heartbeat_at=timezone.now()
    )
    return claimed == 1
