"""RequestBudget against a real Redis: Lighter's rolling-window limits shared by every client.

Time is driven explicitly through the budget's `clock` argument, except where the behaviour under
test is the waiting itself (then a short window is used).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st

from exchange.budget import (
    OPERATOR,
    ROUTINE,
    BudgetUsage,
    Lane,
    RequestBudget,
    backoff_delays,
    budget_usage,
    current_lane,
    lane_limits,
    operator_lane,
    weight_for,
)
from exchange.errors import RateLimitedError
from tests.exchange.conftest import drop_own_cancel

ADDRESS = "0xAbC0000000000000000000000000000000000001"


class Clock:
    """Explicit time for the budget, in seconds."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def aredis(redis_client: redis.Redis, redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def grants(
    budget: RequestBudget, attempts: int, weight: int = 1, lane: Lane = ROUTINE
) -> int:
    results = [await budget.try_acquire(weight, lane) for _ in range(attempts)]
    return sum(r.granted for r in results)


async def test_standard_tier_keeps_a_margin_and_reserves_a_share_for_the_operator(
    aredis: aioredis.Redis, clock: Clock
) -> None:
    budget = RequestBudget(aredis, ADDRESS, "standard", clock=clock)
    # Routine traffic gets 37 of the venue's 60; the operator lane the rest up to 55, never 60.
    assert await grants(budget, 61) == 37
    assert await grants(budget, 20, lane=OPERATOR) == 18
    assert (await budget.usage()).used == 55


async def test_operator_lane_alone_stops_at_the_margin(
    aredis: aioredis.Redis, clock: Clock
) -> None:
    budget = RequestBudget(aredis, ADDRESS, "standard", clock=clock)
    assert await grants(budget, 61, lane=OPERATOR) == 55
    assert await grants(budget, 1) == 0


async def test_no_mix_of_lanes_ever_passes_the_margin(aredis: aioredis.Redis, clock: Clock) -> None:
    assert lane_limits(60) == (37, 55)
    rng = random.Random(7)
    for round_ in range(5):
        budget = RequestBudget(aredis, f"{ADDRESS}{round_}", "standard", clock=clock)
        lanes: list[Lane] = [rng.choice([ROUTINE, OPERATOR]) for _ in range(120)]
        results = [(lane, await budget.try_acquire(1, lane)) for lane in lanes]
        routine = sum(g.granted for lane, g in results if lane == ROUTINE)
        total = sum(g.granted for _, g in results)
        assert routine <= 37 and total == 55


async def test_routine_traffic_waiting_for_budget_does_not_delay_the_operator(
    redis_url: str, aredis: aioredis.Redis
) -> None:
    # Redis' own clock, as in production: routine callers really wait (polling the budget).
    budget = RequestBudget(aredis, ADDRESS, "standard")
    for _ in range(37):
        await budget.acquire()
    # Willing to wait past the window: a routine caller whose timeout is the window itself may
    # give up at once when its wait comes out a millisecond longer (failed once in CI).
    waiting = [asyncio.create_task(budget.acquire(timeout_s=120)) for _ in range(5)]
    while budget.waits < 5:
        await asyncio.sleep(0.01)

    other = aioredis.Redis.from_url(redis_url)  # the operator's process
    operator = RequestBudget(other, ADDRESS, "standard")
    for _ in range(10):
        await operator.acquire(timeout_s=60, lane=OPERATOR)

    # Every operator request was granted at its first attempt, while routine callers waited.
    assert operator.waits == 0
    assert not any(task.done() for task in waiting)
    assert (await operator.usage()).used == 47
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    await other.aclose()


async def test_operator_lane_is_the_lane_of_its_context(
    aredis: aioredis.Redis, clock: Clock
) -> None:
    budget = RequestBudget(aredis, ADDRESS, "standard", clock=clock)
    assert await grants(budget, 37) == 37
    assert current_lane() == ROUTINE

    async def operator_command() -> None:
        with operator_lane():
            assert current_lane() == OPERATOR
            await budget.acquire(timeout_s=0)  # no lane given: the context's

    await operator_command()
    assert current_lane() == ROUTINE
    with pytest.raises(RateLimitedError, match="routine lane"):
        await budget.acquire(timeout_s=0)


async def test_refusal_says_when_the_oldest_request_leaves_the_window(
    aredis: aioredis.Redis, clock: Clock
) -> None:
    budget = RequestBudget(aredis, ADDRESS, "standard", clock=clock)
    await grants(budget, 1, lane=OPERATOR)
    clock.now += 10
    await grants(budget, 54, lane=OPERATOR)

    refused = await budget.try_acquire(lane=OPERATOR)

    assert not refused.granted
    assert refused.wait_s == pytest.approx(50, abs=0.01)


async def test_window_is_rolling_not_a_refilling_bucket(
    aredis: aioredis.Redis, clock: Clock
) -> None:
    budget = RequestBudget(aredis, ADDRESS, "standard", clock=clock)
    assert await grants(budget, 30, lane=OPERATOR) == 30
    clock.now += 30
    assert await grants(budget, 30, lane=OPERATOR) == 25
    clock.now += 31  # the first 30 left the window, the second 25 are still in it

    assert await grants(budget, 40, lane=OPERATOR) == 30


async def test_standard_tier_counts_transactions_as_one_request(
    aredis: aioredis.Redis, clock: Clock
) -> None:
    budget = RequestBudget(aredis, ADDRESS, "standard", clock=clock)
    assert await grants(budget, 61, weight=weight_for("sendTx"), lane=OPERATOR) == 55


async def test_premium_tier_counts_lighter_weights(aredis: aioredis.Redis, clock: Clock) -> None:
    budget = RequestBudget(aredis, ADDRESS, "premium", clock=clock)
    # 24,000 less the margin of 2,000: 73 requests of weight 300.
    assert await grants(budget, 81, weight=300, lane=OPERATOR) == 73
    assert (await budget.usage()).used == 21_900


async def test_premium_limit_is_configurable(aredis: aioredis.Redis, clock: Clock) -> None:
    budget = RequestBudget(aredis, ADDRESS, "premium", per_minute=1200, clock=clock)
    assert await grants(budget, 5, weight=300, lane=OPERATOR) == 3


async def test_request_heavier_than_the_whole_budget_is_refused_at_once(
    aredis: aioredis.Redis, clock: Clock
) -> None:
    budget = RequestBudget(aredis, ADDRESS, "premium", clock=clock)
    with pytest.raises(ValueError, match="can never fit"):
        await budget.acquire(weight=24_001)


async def test_all_clients_of_one_address_share_the_budget(
    redis_url: str, aredis: aioredis.Redis, clock: Clock
) -> None:
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(4)]
    budgets = [RequestBudget(c, ADDRESS, "standard", clock=clock) for c in clients]

    results = await asyncio.gather(*(b.try_acquire() for b in budgets for _ in range(40)))

    assert sum(r.granted for r in results) == 37
    for client in clients:
        await client.aclose()


async def test_addresses_have_separate_budgets(aredis: aioredis.Redis, clock: Clock) -> None:
    first = RequestBudget(aredis, ADDRESS, "standard", clock=clock)
    second = RequestBudget(aredis, ADDRESS.replace("1", "2"), "standard", clock=clock)
    await grants(first, 60)
    assert await grants(second, 1) == 1


async def test_usage_reports_window_use_for_the_dashboard(
    aredis: aioredis.Redis, clock: Clock
) -> None:
    budget = RequestBudget(aredis, ADDRESS, "standard", clock=clock)
    await grants(budget, 12)

    assert await budget.usage() == BudgetUsage(used=12, limit=60, window_s=60.0)


async def test_usage_forgets_requests_that_left_the_window(
    aredis: aioredis.Redis, clock: Clock
) -> None:
    budget = RequestBudget(aredis, ADDRESS, "standard", clock=clock)
    await grants(budget, 12)
    clock.now += 61
    assert (await budget.usage()).used == 0


async def test_module_level_budget_usage_reads_the_shared_budget(aredis: aioredis.Redis) -> None:
    budget = RequestBudget(aredis, ADDRESS, "standard")
    await budget.acquire()
    await budget.acquire()

    usage = await budget_usage(aredis, ADDRESS.lower())

    assert (usage.used, usage.limit) == (2, 60)


async def test_penalty_after_a_429_blocks_every_client_of_the_address(
    redis_url: str, aredis: aioredis.Redis, clock: Clock
) -> None:
    other_client = aioredis.Redis.from_url(redis_url)
    mine = RequestBudget(aredis, ADDRESS, "standard", clock=clock)
    theirs = RequestBudget(other_client, ADDRESS, "standard", clock=clock)

    await mine.penalise(5)
    blocked = await theirs.try_acquire()
    clock.now += 5.01
    after = await theirs.try_acquire()

    assert not blocked.granted
    assert blocked.wait_s == pytest.approx(5, abs=0.01)
    assert after.granted
    await other_client.aclose()


async def test_shorter_penalty_never_shortens_a_longer_one(
    aredis: aioredis.Redis, clock: Clock
) -> None:
    budget = RequestBudget(aredis, ADDRESS, "standard", clock=clock)
    await budget.penalise(10)
    await budget.penalise(1)
    clock.now += 2
    assert not (await budget.try_acquire()).granted


async def test_acquire_waits_for_capacity_instead_of_failing(aredis: aioredis.Redis) -> None:
    budget = RequestBudget(aredis, ADDRESS, "standard", per_minute=3, window_s=0.3)
    for _ in range(3):
        await budget.acquire()

    await budget.acquire(timeout_s=5)

    assert (await budget.usage()).used <= 3


async def test_acquire_raises_rate_limited_when_capacity_frees_too_late(
    aredis: aioredis.Redis, clock: Clock
) -> None:
    budget = RequestBudget(aredis, ADDRESS, "standard", per_minute=2, clock=clock)
    await budget.acquire()
    await budget.acquire()

    with pytest.raises(RateLimitedError, match="exhausted"):
        await budget.acquire(timeout_s=1)


def test_unknown_tier_is_refused(redis_client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="unknown tier"):
        RequestBudget(aioredis.Redis(), ADDRESS, "gold")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("endpoint", "weight"),
    [
        ("sendTx", 6),
        ("sendTxBatch", 6),
        ("/api/v1/nextNonce", 6),
        ("accountInactiveOrders", 100),
        ("apikeys", 150),
        ("recentTrades", 600),
        ("trades", 600),
        ("referral/stats", 3000),
        ("tokens/create", 23_000),
        ("orderBookDetails", 300),
        ("account", 300),
    ],
)
def test_weight_for_follows_lighter_table(endpoint: str, weight: int) -> None:
    assert weight_for(endpoint) == weight


def test_backoff_delays_grow_exponentially_up_to_the_cap() -> None:
    class Ceiling(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    assert list(backoff_delays(0.5, 4.0, 6, Ceiling())) == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


@given(
    base=st.floats(min_value=0, max_value=10),
    cap=st.floats(min_value=0, max_value=60),
    attempts=st.integers(min_value=0, max_value=30),
    seed=st.integers(),
)
def test_backoff_delays_are_bounded_and_counted(
    base: float, cap: float, attempts: int, seed: int
) -> None:
    delays = list(backoff_delays(base, cap, attempts, random.Random(seed)))
    assert len(delays) == attempts
    assert all(0 <= d <= cap for d in delays)


def test_backoff_delays_are_jittered() -> None:
    delays = list(backoff_delays(1.0, 1.0, 20, random.Random(1)))
    assert len(set(delays)) == 20


async def test_a_wait_for_budget_ends_at_its_next_pause_when_its_cancel_was_dropped(
    aredis: aioredis.Redis,
) -> None:
    """Python 3.11's `wait_for` (redis-py's sends use it) can drop a cancel that lands as its
    inner future completes: the task runs on with `cancelling()` set. A bot runner cancelled
    during a reconcile that waited for budget kept running (found by CI, reproduced in about
    one run in 40). The wait now ends at its next pause."""
    budget = RequestBudget(aredis, ADDRESS, "standard")
    for _ in range(37):
        await budget.acquire()  # the routine lane is full: the next routine request waits

    async def dropped_then_wait() -> None:
        await drop_own_cancel()
        await budget.acquire(timeout_s=120)

    waiting = asyncio.create_task(dropped_then_wait())

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 5)
    assert budget.waits == 1  # it looked once, then gave the wait up


async def test_granted_since_counts_what_was_granted_from_an_instant_on(
    aredis: aioredis.Redis, clock: Clock
) -> None:
    budget = RequestBudget(aredis, ADDRESS, "premium", clock=clock)
    start = await budget.now_ms()
    assert await grants(budget, 2, weight=300) == 2
    clock.now += 1.0
    later = await budget.now_ms()
    assert later == start + 1000
    assert await grants(budget, 1, weight=6, lane=OPERATOR) == 1

    assert await budget.granted_since(start) == 606
    assert await budget.granted_since(later) == 6
    assert await budget.granted_since(later + 1) == 0


async def test_the_budgets_clock_is_redis_time_without_a_test_clock(
    aredis: aioredis.Redis,
) -> None:
    seconds, micros = await aredis.time()
    now = await RequestBudget(aredis, ADDRESS, "standard").now_ms()
    assert abs(now - (int(seconds) * 1000 + int(micros) // 1000)) < 5_000
