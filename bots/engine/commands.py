"""Operator commands reach a live runner by push, not by polling.

The desired state in the database stays the truth (services write it, with a cancel-all request
time); what this module adds is the wake-up: after the commit, `command_publish` gives the
command a sequence number (a Redis counter per bot) and publishes it on the bot's channel. The
runner listens (`command_listen`) and applies the desired state before it plans again, so a stop
or cancel-all is taken within milliseconds instead of at the next 0.5 s poll, and a runner does
not read the database for controls while nobody touches them. A push lost to a Redis blip is
caught by the runner's slow fallback read (`EngineOptions.control_s`, `bots.engine.kinds`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from django.conf import settings
from redis.connection import parse_url
from redis.exceptions import RedisError

from exchange.errors import cancel_point, pause
from exchange.redis_clients import async_redis_client, redis_client

logger = logging.getLogger(__name__)

RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 10.0


# A change of the bot's configuration (not of its desired state): the runner reads its live
# settings at once, and a placement under way still goes out (the settings cannot make it
# wrong; a price past a new exit drops it by itself).
SETTINGS = "settings"


@dataclass(frozen=True)
class Command:
    """An operator command for one bot: its sequence number and kind (start, stop, ...)."""

    seq: int
    kind: str


@dataclass(frozen=True)
class Shutdown:
    """The process is shutting down (SIGTERM to the bots worker): end the runner now, leave the
    resting orders under the dead-man's switch, release the lease so the bot resumes at once on
    the next worker."""


def command_channel(redis_url: str, bot_id: int) -> str:
    """The Redis pub/sub channel of one bot's commands. Pub/sub ignores the database number
    (every database of a server hears every channel): the name carries it, so two sites or
    test sessions on one server, each in its own database, never wake each other's bots (a
    foreign command dropped a placement under way as if the operator had sent one)."""
    db = parse_url(redis_url).get("db", 0)
    return f"lighterweb:db{db}:bot:{bot_id}:commands"


def _seq_key(bot_id: int) -> str:
    return f"lighterweb:bot:{bot_id}:command-seq"


def command_publish(bot_id: int, kind: str) -> int | None:
    """Number and publish a command (call after the commit that wrote the desired state).

    Returns its sequence number, or None when Redis is unreachable: the runner's fallback read
    picks the desired state up then, a little later.
    """
    client = redis_client(settings.REDIS_URL)
    try:
        seq = int(cast(int, client.incr(_seq_key(bot_id))))  # a sync client: never an Awaitable
        channel = command_channel(settings.REDIS_URL, bot_id)
        client.publish(channel, json.dumps({"seq": seq, "kind": kind}))
        return seq
    except (RedisError, OSError) as exc:
        logger.warning("bot %s: command %s not pushed (%s); the runner reads it later", bot_id,
                       kind, exc)  # fmt: skip
        return None
    finally:
        client.close()


async def command_listen(redis_url: str, bot_id: int, deliver: Callable[[Command], None]) -> None:
    """Deliver the bot's commands as they are published, until cancelled; reconnects with
    bounded backoff (a command published while disconnected is left to the fallback read)."""
    backoff = RECONNECT_FIRST_S
    while True:
        client = async_redis_client(redis_url)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(command_channel(redis_url, bot_id))
            backoff = RECONNECT_FIRST_S
            while True:
                # Never blocks longer than a second: a cancel redis-py dropped ends it here.
                cancel_point()
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None and message.get("type") == "message":
                    payload = json.loads(message["data"])
                    deliver(Command(int(payload["seq"]), str(payload["kind"])))
        except (RedisError, OSError, ValueError, KeyError) as exc:
            logger.warning("bot %s: command channel lost (%s); retrying in %.1fs", bot_id, exc,
                           backoff)  # fmt: skip
            await pause(backoff)
            backoff = min(backoff * 2, RECONNECT_MAX_S)
        finally:
            await pubsub.aclose()
            await client.aclose()
