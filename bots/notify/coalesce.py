"""Coalescing windows in Redis: a burst of fills becomes one message per channel and bot.

The first event of a burst opens a window (its deadline = now + NOTIFY_COALESCE_SECONDS) and
every event until the window is flushed joins it. Beat runs `notify_flush_task` every few
seconds; it takes each window whose deadline has passed and sends one message for it.

Why beat and not a countdown task per window: tasks are acknowledged on receipt (design
decision 4), so a countdown task held by a worker that restarts is lost with its window; a
window in Redis survives any worker and the next flush sends it.

Both steps are atomic in Redis (a MULTI for `add`, a script for `take`): an event either joins
a window that is then taken whole, or opens a new one; none is lost or sent twice.

Keys: `lighterweb:notify:coalesce:<channel>:<bot>:<kind>` (list of event ids) and the sorted set
`lighterweb:notify:coalesce-due` (window key -> deadline, unix seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

KEY_PREFIX = "lighterweb:notify:coalesce"
DUE_KEY = "lighterweb:notify:coalesce-due"
# A window nobody flushes (beat down for a day) must not keep its ids forever.
ABANDONED_TTL_SECONDS = 86_400

_TAKE_LUA = """
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], KEYS[1])
return ids
"""


@dataclass(frozen=True)
class Window:
    """A window's identity: which channel, bot and alert kind it collects."""

    channel_id: int
    bot_id: int
    kind: str

    @property
    def key(self) -> str:
        return f"{KEY_PREFIX}:{self.channel_id}:{self.bot_id}:{self.kind}"

    @classmethod
    def from_key(cls, key: str) -> Window:
        channel_id, bot_id, kind = key[len(KEY_PREFIX) + 1 :].split(":", 2)
        return cls(int(channel_id), int(bot_id), kind)


def window_add(
    client: redis.Redis, window: Window, event_id: int, now_s: float, span_s: float
) -> None:
    """Put an event into its window, opening the window (deadline now + span) if none is open."""
    pipe = client.pipeline(transaction=True)
    pipe.rpush(window.key, event_id)
    pipe.expire(window.key, ABANDONED_TTL_SECONDS)
    pipe.zadd(DUE_KEY, {window.key: now_s + span_s}, nx=True)
    pipe.execute()


def windows_due(client: redis.Redis, now_s: float) -> list[Window]:
    """Windows whose deadline has passed."""
    keys: list[bytes] = client.zrangebyscore(DUE_KEY, "-inf", now_s)
    return [Window.from_key(key.decode()) for key in keys]


def window_take(client: redis.Redis, window: Window) -> list[int]:
    """Empty the window and close it; its event ids in arrival order ([] if already taken)."""
    ids = client.eval(_TAKE_LUA, 2, window.key, DUE_KEY)
    return [int(event_id) for event_id in ids]
