"""Request budget per L1 address, shared through Redis by every process and machine.

Lighter limits requests per L1 address over a *rolling* 60 s window (lighter-api.md §6.3):
standard accounts get 60 requests per minute, every request counting 1 (transactions included);
premium accounts get a weight budget (24,000 per minute by default) where each endpoint has a
weight (`WEIGHTS`).

Algorithm: a sliding log, not a token bucket. A token bucket of capacity 60 refilling at 1/s lets
a client send 60 requests at once and then one per second, i.e. up to ~119 inside one rolling
minute, which Lighter would answer with 429s. The sliding log admits a request only when the
weight recorded in the last `window_s` seconds plus its own weight fits the limit, which is
exactly Lighter's rule. Each grant is one sorted-set member (score = grant time in ms); a running
total of the weight in the window avoids summing the set on every call.

Everything happens in one Lua script, so checking and recording a grant is atomic across all
processes using that Redis. Time comes from Redis' own clock (`TIME`) so machines with skewed
clocks still agree; tests may pass an explicit clock instead.

A real 429 (`penalise`) stores a "blocked until" instant that every process honours.

Margin and lanes: the client never plans for the venue's last requests (its window and ours are
not measured on the same clock, and a request in flight counts on both sides at different
instants), so only `usable` = limit - limit/12 is ever granted (55 of a standard 60). Of that,
routine traffic (runners' placements, reconciles, account refreshes, recorders) may use two
thirds (`routine_limit`, 37 of 60); the rest is reserved for the operator lane (stop,
cancel-all, emergency stop, close: `operator_lane()`), which may use the whole usable budget. A
routine caller waiting for capacity therefore never delays an operator command: the operator's
share is never spent by routine traffic, and there is no queue to wait in. The share, 18 of a
standard minute, holds an emergency stop of the README's three grids on one account with room
to spare: it spends 8-14 (each runner's cancel and read-back, a positions read when it traded,
the account-wide cancel and its read-backs, one release of the dead-man's switch;
tests/bots/engine/test_emergency_stop.py). A quarter (13) did not.

Premium note: Lighter counts premium transactions against a separate per-minute tx limit (4,000+
by staked LIT) rather than the REST weight; charging sendTx its weight of 6 here is the safe side.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

import redis.asyncio as aioredis

from exchange.errors import RateLimitedError, cancel_point, pause

logger = logging.getLogger(__name__)

Tier = Literal["standard", "premium"]
Lane = Literal["routine", "operator"]
ROUTINE: Lane = "routine"
OPERATOR: Lane = "operator"

WINDOW_SECONDS = 60.0
STANDARD_REQUESTS_PER_MINUTE = 60
PREMIUM_WEIGHT_PER_MINUTE = 24_000
DEFAULT_WEIGHT = 300
# Never granted: one twelfth of the venue's limit (5 of 60) stays as a margin.
MARGIN_DIVISOR = 12
# Reserved for the operator lane: a third of what is usable (18 of 55).
OPERATOR_RESERVE_DIVISOR = 3
# A waiting caller looks again at least this often (a freed budget, or a reason to give up the
# wait, is noticed within it).
MAX_POLL_S = 0.25

# The lane of the requests made in this context (an operator command sets OPERATOR).
_lane: ContextVar[Lane] = ContextVar("lighterweb_budget_lane", default=ROUTINE)


@contextlib.contextmanager
def operator_lane() -> Iterator[None]:
    """Requests made inside (in this task and the tasks it starts) draw from the operator lane:
    the reserved share of the budget that routine traffic never spends."""
    token = _lane.set(OPERATOR)
    try:
        yield
    finally:
        _lane.reset(token)


def current_lane() -> Lane:
    """The lane of requests made now (ROUTINE unless inside `operator_lane()`)."""
    return _lane.get()


def lane_limits(limit: int) -> tuple[int, int]:
    """(routine, operator) caps of a venue limit: 60 -> (37, 55); tiny limits keep no margin."""
    usable = limit - limit // MARGIN_DIVISOR
    return usable - usable // OPERATOR_RESERVE_DIVISOR, usable


# lighter-api.md §6.3; anything not listed weighs DEFAULT_WEIGHT.
WEIGHTS: dict[str, int] = {
    "sendTx": 6,
    "sendTxBatch": 6,
    "nextNonce": 6,
    "publicPools": 50,
    "publicPoolsMetadata": 50,
    "txFromL1TxHash": 50,
    "accountInactiveOrders": 100,
    "deposit/latest": 100,
    "apikeys": 150,
    "transferFeeInfo": 500,
    "trades": 600,
    "recentTrades": 600,
    "changeAccountTier": 3000,
    "tokens": 3000,
    "tokens/revoke": 3000,
    "setAccountMetadata": 3000,
    "notification/ack": 3000,
    "createIntentAddress": 3000,
    "fastwithdraw": 3000,
    "referral": 3000,
    "tokens/create": 23_000,
}

KEY_PREFIX = "lighterweb:budget"

# KEYS[1] log (zset member -> grant ms), KEYS[2] weights (hash member -> weight),
# KEYS[3] running total, KEYS[4] blocked-until ms.
# ARGV: now_ms (or -1 for Redis TIME), window_ms, limit, weight, member, dry_run (1 = only report).
# Returns {granted, wait_ms, used, now_ms}.
_ACQUIRE_LUA = """
redis.replicate_commands()
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local weight = tonumber(ARGV[4])
local member = ARGV[5]
local dry = ARGV[6] == '1'

-- forget grants that left the window, keeping the running total in step
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)
if #expired > 0 then
  local weights = redis.call('HMGET', KEYS[2], unpack(expired))
  local freed = 0
  for i = 1, #weights do freed = freed + (tonumber(weights[i]) or 0) end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  redis.call('HDEL', KEYS[2], unpack(expired))
  redis.call('DECRBY', KEYS[3], freed)
end
local used = tonumber(redis.call('GET', KEYS[3]) or '0')
if used < 0 then used = 0 end
if dry then return {0, 0, used, now} end

local blocked = tonumber(redis.call('GET', KEYS[4]) or '0')
if blocked > now then return {0, blocked - now, used, now} end

if used + weight <= limit then
  redis.call('ZADD', KEYS[1], now, member)
  redis.call('HSET', KEYS[2], member, weight)
  redis.call('INCRBY', KEYS[3], weight)
  local ttl = window + 1000
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
  return {1, 0, used + weight, now}
end

-- too full: wait until enough of the oldest grants have left the window
local excess = used + weight - limit
local oldest = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local freed = 0
for i = 1, #oldest, 2 do
  freed = freed + (tonumber(redis.call('HGET', KEYS[2], oldest[i])) or 0)
  if freed >= excess then
    return {0, math.max(1, tonumber(oldest[i + 1]) + window - now + 1), used, now}
  end
end
return {0, window, used, now}
"""

# KEYS[1] blocked-until ms. ARGV: now_ms (or -1), penalty_ms. Only ever extends the block.
_PENALISE_LUA = """
redis.replicate_commands()
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local until_ms = now + tonumber(ARGV[2])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ms > current then
  redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[2]) + 1000)
  return until_ms
end
return current
"""


@dataclass(frozen=True)
class BudgetUsage:
    """What the budget has spent in the current rolling window (for the dashboard)."""

    used: int
    limit: int
    window_s: float


@dataclass(frozen=True)
class Grant:
    """Outcome of one non-blocking attempt: granted, or how long until it could be."""

    granted: bool
    wait_s: float
    used: int


def weight_for(endpoint: str) -> int:
    """Lighter's weight of `endpoint` (e.g. "sendTx", "/api/v1/trades"); unknown ones weigh 300."""
    name = endpoint.strip("/")
    if name.startswith("api/v1/"):
        name = name[len("api/v1/") :]
    if name in WEIGHTS:
        return WEIGHTS[name]
    head = name.split("/", 1)[0]
    return WEIGHTS.get(head, DEFAULT_WEIGHT)


def backoff_delays(
    base: float, cap: float, attempts: int, rng: random.Random | None = None
) -> Iterator[float]:
    """Yield `attempts` delays in seconds: exponential from `base`, capped at `cap`, full jitter.

    Full jitter (uniform in [0, min(cap, base * 2**n)]) spreads retrying processes apart so they
    do not hit the exchange again in lockstep.
    """
    if base < 0 or cap < 0 or attempts < 0:
        raise ValueError("base, cap and attempts must be non-negative")
    source = rng if rng is not None else random.Random()
    for attempt in range(attempts):
        ceiling = min(cap, base * (2**attempt))
        yield source.uniform(0.0, ceiling)


def _keys(address: str) -> list[str]:
    # one hash tag per address keeps the script's keys in one slot on a Redis Cluster
    root = f"{KEY_PREFIX}:{{{address.lower()}}}"
    return [f"{root}:log", f"{root}:weights", f"{root}:used", f"{root}:blocked"]


class RequestBudget:
    """Rolling-window request budget of one L1 address, shared through Redis.

    Standard tier counts requests (every request weighs 1); premium counts Lighter weights against
    `per_minute` (default 24,000). `window_s` and `clock` exist for tests and the simulator.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        key: str,
        tier: Tier = "standard",
        per_minute: int | None = None,
        *,
        window_s: float = WINDOW_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if tier not in ("standard", "premium"):
            raise ValueError(f"unknown tier {tier!r}: expected 'standard' or 'premium'")
        default = STANDARD_REQUESTS_PER_MINUTE if tier == "standard" else PREMIUM_WEIGHT_PER_MINUTE
        self.redis = redis
        self.key = key
        self.tier: Tier = tier
        self.limit = per_minute if per_minute is not None else default
        if self.limit <= 0:
            raise ValueError("per_minute must be positive")
        self.routine_limit, self.usable = lane_limits(self.limit)
        self.window_s = window_s
        self._clock = clock
        # Attempts refused for want of capacity (a caller then waits): for tests and benches.
        self.waits = 0
        self._keys = _keys(key)
        self._acquire_script = redis.register_script(_ACQUIRE_LUA)
        self._penalise_script = redis.register_script(_PENALISE_LUA)

    def __repr__(self) -> str:
        return f"RequestBudget(key={self.key!r}, tier={self.tier!r}, limit={self.limit})"

    def cost(self, weight: int) -> int:
        """What a request of Lighter weight `weight` costs in this tier's unit."""
        return 1 if self.tier == "standard" else weight

    def _now_arg(self) -> int:
        return -1 if self._clock is None else int(self._clock() * 1000)

    def lane_limit(self, lane: Lane) -> int:
        """What requests of `lane` may fill the window up to."""
        return self.usable if lane == OPERATOR else self.routine_limit

    async def try_acquire(self, weight: int = 1, lane: Lane | None = None) -> Grant:
        """Take capacity for one request of `lane` (default: `current_lane()`) if it fits now;
        never waits."""
        cost = self.cost(weight)
        cap = self.lane_limit(lane or current_lane())
        if cost > cap:
            raise ValueError(f"a request of cost {cost} can never fit a budget of {cap}")
        member = uuid.uuid4().hex
        result = await self._acquire_script(
            keys=self._keys,
            args=[self._now_arg(), int(self.window_s * 1000), cap, cost, member, 0],
        )
        granted, wait_ms, used = int(result[0]), int(result[1]), int(result[2])
        return Grant(granted=bool(granted), wait_s=wait_ms / 1000, used=used)

    async def acquire(
        self,
        weight: int = 1,
        timeout_s: float = 30,
        lane: Lane | None = None,
        *,
        while_waiting: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Wait (at most `timeout_s`) until the request fits its lane, then record it.

        Raises RateLimitedError when the budget cannot free enough capacity in time; callers then
        see a typed error instead of an exchange 429. `while_waiting` runs before every pause of
        the wait: raising there gives the wait up (the request is no longer wanted).
        """
        lane = lane or current_lane()
        deadline = time.monotonic() + timeout_s
        while True:
            grant = await self.try_acquire(weight, lane)
            if grant.granted:
                return
            self.waits += 1
            remaining = deadline - time.monotonic()
            if grant.wait_s > remaining:
                logger.warning(
                    "request budget of %s exhausted (%s lane): %s/%s used, next slot in %.2fs",
                    self.key,
                    lane,
                    grant.used,
                    self.lane_limit(lane),
                    grant.wait_s,
                )
                raise RateLimitedError(
                    f"request budget of {self.key} exhausted ({lane} lane: "
                    f"{grant.used}/{self.lane_limit(lane)} per {self.window_s:g}s); "
                    f"next slot in {grant.wait_s:.2f}s, beyond the {timeout_s:g}s timeout",
                    retry_after_s=grant.wait_s,
                )
            # A cancel a library dropped on the way here ends the wait (exchange.errors).
            cancel_point()
            # a small random extra keeps waiting processes from all retrying the same millisecond
            if while_waiting is not None:
                await while_waiting()
            # Looked at again at least every MAX_POLL_S: a budget freed meanwhile is used.
            await pause(min(grant.wait_s, MAX_POLL_S) + random.uniform(0, 0.01))

    async def usage(self) -> BudgetUsage:
        """Weight (or requests) spent in the current rolling window."""
        result = await self._acquire_script(
            keys=self._keys,
            args=[self._now_arg(), int(self.window_s * 1000), self.limit, 0, "", 1],
        )
        return BudgetUsage(used=int(result[2]), limit=self.limit, window_s=self.window_s)

    async def now_ms(self) -> int:
        """The budget's clock (Redis' own `TIME` unless a test clock was given), milliseconds."""
        if self._clock is not None:
            return int(self._clock() * 1000)
        seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def granted_since(self, since_ms: int) -> int:
        """What the budget granted from `since_ms` (its clock, `now_ms`) on, in its units (while
        those grants are still in the window): what one command spent, for tests and benches."""
        log, weights = self._keys[:2]
        members = await self.redis.zrangebyscore(log, since_ms, "+inf")
        if not members:
            return 0
        return sum(int(w or 0) for w in await self.redis.hmget(weights, members))

    async def penalise(self, retry_after_s: float) -> None:
        """After a real 429: make every process sharing this address wait `retry_after_s`."""
        await self._penalise_script(
            keys=[self._keys[3]], args=[self._now_arg(), max(1, int(retry_after_s * 1000))]
        )
        logger.warning(
            "request budget of %s penalised for %.2fs after a 429", self.key, retry_after_s
        )


def budget_name(l1_address: str | None, account_index: int | None) -> str:
    """The shared budget of an account: Lighter limits per L1 address; an account whose address
    is not known yet gets a budget of its own."""
    return l1_address or f"account-{account_index}"


async def budget_usage(
    redis: aioredis.Redis,
    key: str,
    tier: Tier = "standard",
    per_minute: int | None = None,
) -> BudgetUsage:
    """Current use of the budget of L1 address `key`, as the dashboard shows it."""
    return await RequestBudget(redis, key, tier, per_minute).usage()
