"""Redis clients built from a URL talk to a real Redis, with connect and reply timeouts set."""

from __future__ import annotations

from exchange.redis_clients import DEFAULT_TIMEOUT_S, async_redis_client, redis_client


def test_blocking_client_talks_to_redis_with_both_timeouts(redis_url: str) -> None:
    client = redis_client(redis_url, timeout_s=2.5)
    try:
        assert client.ping() is True
        options = client.connection_pool.connection_kwargs
        assert (options["socket_timeout"], options["socket_connect_timeout"]) == (2.5, 2.5)
    finally:
        client.close()


async def test_asyncio_client_talks_to_redis_with_the_default_timeouts(redis_url: str) -> None:
    client = async_redis_client(redis_url)
    try:
        assert await client.ping() is True
        options = client.connection_pool.connection_kwargs
        assert options["socket_timeout"] == options["socket_connect_timeout"] == DEFAULT_TIMEOUT_S
    finally:
        await client.aclose()
