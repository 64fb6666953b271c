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


async def test_replies_are_parsed_by_the_c_parser(redis_url: str) -> None:
    # `hiredis` (redis-py's extra, a dependency): every send makes four script calls, and the
    # pure-Python parser cost a fill ~0.7 ms more CPU (docs/benchmarks.md). redis-py falls back
    # to it silently when hiredis is missing or fails to import, so check the connection.
    client = async_redis_client(redis_url)
    try:
        assert await client.ping() is True
        connection = await client.connection_pool.get_connection()
        try:
            assert "Hiredis" in type(connection._parser).__name__
        finally:
            await client.connection_pool.release(connection)
        assert (
            "Hiredis"
            in type(redis_client(redis_url).connection_pool.make_connection()._parser).__name__
        )
    finally:
        await client.aclose()
