"""BotLease over a real Redis, and the fence it stores on the bot row."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bots.engine import recording
from bots.engine.leases import BotLease, fence_claim, lease_holder, lease_key
from bots.models import GridBot
from exchange.redis_clients import async_redis_client
from tests.lighterweb.factories import make_account, make_bot, make_market


def test_first_acquire_gets_a_fence_and_a_second_holder_is_refused(redis_client):
    first = BotLease(redis_client, 1)
    second = BotLease(redis_client, 1)

    fence = first.acquire()

    assert fence is not None
    assert second.acquire() is None
    assert lease_holder(redis_client, 1) == fence


def test_fences_grow_across_holders(redis_client):
    first = BotLease(redis_client, 2)
    old = first.acquire()
    first.release()

    new = BotLease(redis_client, 2).acquire()

    assert old is not None and new is not None and new > old


def test_a_refused_acquire_does_not_burn_a_fence(redis_client):
    holder = BotLease(redis_client, 3)
    fence = holder.acquire()
    BotLease(redis_client, 3).acquire()
    holder.release()

    assert BotLease(redis_client, 3).acquire() == fence + 1


def test_leases_of_different_bots_are_independent(redis_client):
    assert BotLease(redis_client, 4).acquire() is not None
    assert BotLease(redis_client, 5).acquire() is not None


def test_renew_extends_the_ttl_of_the_holder(redis_client):
    lease = BotLease(redis_client, 6, ttl_s=15)
    lease.acquire()
    redis_client.pexpire(lease_key(6), 100)

    assert lease.renew() is True
    assert redis_client.pttl(lease_key(6)) > 10_000


def test_renew_after_expiry_and_takeover_fails_and_leaves_the_successor_alone(redis_client):
    old = BotLease(redis_client, 7)
    old.acquire()
    redis_client.delete(lease_key(7))  # the TTL ran out while the old holder was frozen
    successor = BotLease(redis_client, 7)
    new_fence = successor.acquire()

    assert old.renew() is False
    old.release()
    assert lease_holder(redis_client, 7) == new_fence


def test_renew_on_the_event_loop_extends_the_ttl_and_sees_a_successor(redis_client, redis_url):
    lease = BotLease(redis_client, 9, ttl_s=15)
    lease.acquire()
    redis_client.pexpire(lease_key(9), 100)

    async def renew_twice() -> tuple[bool, bool]:
        client = async_redis_client(redis_url)
        try:
            renewed = await lease.arenew(client)
            ttl = redis_client.pttl(lease_key(9))
            assert ttl > 10_000
            redis_client.delete(lease_key(9))
            BotLease(redis_client, 9).acquire()  # a successor took it meanwhile
            return renewed, await lease.arenew(client)
        finally:
            await client.aclose()

    assert asyncio.run(renew_twice()) == (True, False)


def test_release_frees_the_lease_for_the_next_holder(redis_client):
    lease = BotLease(redis_client, 8)
    lease.acquire()

    lease.release()

    assert lease_holder(redis_client, 8) is None
    assert BotLease(redis_client, 8).acquire() is not None


def test_concurrent_acquires_leave_exactly_one_holder(redis_client):
    barrier = threading.Barrier(8)
    results: list[int | None] = []
    lock = threading.Lock()

    def contend() -> None:
        lease = BotLease(redis_client, 10)
        barrier.wait(timeout=10)
        fence = lease.acquire()
        with lock:
            results.append(fence)

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(results) == 8
    assert len([f for f in results if f is not None]) == 1


@pytest.mark.django_db
def test_fence_claim_stores_a_larger_fence_and_refuses_a_smaller_one():
    bot = make_bot(make_account(), make_market())

    assert fence_claim(bot.pk, 5) is True
    assert fence_claim(bot.pk, 4) is False
    assert fence_claim(bot.pk, 5) is False

    bot.refresh_from_db()
    assert bot.lease_fence == 5
    assert bot.heartbeat_at is not None


@pytest.mark.django_db
def test_a_stale_fence_cannot_write_after_a_successor_claimed_the_bot():
    bot = make_bot(make_account(), make_market())
    fence_claim(bot.pk, 1)
    fence_claim(bot.pk, 2)  # a successor took over

    with pytest.raises(recording.LeaseLost):
        recording.bot_update(bot, 1, status="running")

    assert GridBot.objects.get(pk=bot.pk).status == "stopped"


@pytest.mark.django_db
def test_the_current_fence_can_write():
    bot = make_bot(make_account(), make_market())
    fence_claim(bot.pk, 3)

    recording.bot_update(bot, 3, status="running")

    assert GridBot.objects.get(pk=bot.pk).status == "running"


def test_a_fence_always_exceeds_the_floor_even_when_redis_lost_its_counter(redis_client):
    lease = BotLease(redis_client, 12)

    fence = lease.acquire(floor=41)
    lease.release()

    assert fence == 42
    assert BotLease(redis_client, 12).acquire(floor=0) == 43
