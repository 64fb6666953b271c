"""The one way to build a Redis client from a URL, blocking or asyncio.

Redis carries the request budget, the nonce locks, leases and pushes. A client without socket
timeouts waits forever on a Redis that stopped answering, so every client gets both timeouts
here; a failure then surfaces as `redis.exceptions.ConnectionError`/`TimeoutError`, which
`exchange.errors` treats as transient. Connections open lazily, on first use (for the asyncio
client: on the loop that first uses it).
"""

from __future__ import annotations

import redis
import redis.asyncio as aioredis

# No command we send blocks on the server (locks and budgets poll), so a reply that takes
# longer than this means Redis is gone or stuck.
DEFAULT_TIMEOUT_S = 5.0


def redis_client(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> redis.Redis:
    """A blocking client for `url` whose connects and replies time out after `timeout_s`."""
    return redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)


def async_redis_client(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> aioredis.Redis:
    """An asyncio client for `url` whose connects and replies time out after `timeout_s`."""
    return aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
