"""PushChannelLayer: which groups have a member, in one round trip to a real Redis."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from lighterweb.channel_layer import PushChannelLayer
from tests.lighterweb.redis_writes import CountedConnection

RECEIVE_TIMEOUT_S = 5


@pytest.fixture
def layer(redis_url: str) -> Iterator[PushChannelLayer]:
    prefix = f"lighterweb-test:layer:{uuid.uuid4().hex}"  # no group of another test's
    yield PushChannelLayer(
        hosts=[{"address": redis_url, "connection_class": CountedConnection}], prefix=prefix
    )


def test_many_groups_without_members_cost_one_round_trip(layer):
    groups = ["dashboard", "bot.1", "bot.2", "account.3"]

    async def check() -> tuple[set[str], int]:
        await layer.groups_with_members(["warm-up"])  # the connection's handshake
        thread = threading.current_thread().name
        before = CountedConnection.writes[thread]
        found = await layer.groups_with_members(groups)
        return found, CountedConnection.writes[thread] - before

    found, round_trips = asyncio.run(check())

    assert found == set()
    assert round_trips == 1


def test_only_the_groups_with_a_member_are_found_and_they_still_receive(layer):
    async def check() -> tuple[set[str], dict[str, Any]]:
        channel = await layer.new_channel()
        await layer.group_add("bot.7", channel)
        found = await layer.groups_with_members(["dashboard", "bot.7", "bot.8"])
        await layer.group_send("bot.7", {"type": "lw.push", "kind": "event", "data": {"id": 1}})
        return found, await asyncio.wait_for(layer.receive(channel), RECEIVE_TIMEOUT_S)

    found, message = asyncio.run(check())

    assert found == {"bot.7"}
    assert message["data"] == {"id": 1}


def test_a_member_older_than_the_group_expiry_is_not_counted(layer, redis_url):
    client = redis.Redis.from_url(redis_url)
    key = layer._group_key("bot.9")
    client.zadd(key, {"specific.gone!x": 1})  # joined in 1970: long past group_expiry

    found = asyncio.run(layer.groups_with_members(["bot.9"]))

    assert found == set()
    client.close()
