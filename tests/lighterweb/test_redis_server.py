"""The embedded Redis path: start on a free port, use it, stop it."""

import redis

from lighterweb.redis_server import EmbeddedRedis, free_port, redis_reachable


def test_embedded_redis_starts_serves_and_stops(tmp_path):
    server = EmbeddedRedis(port=free_port(), data_dir=tmp_path)
    with server:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
    assert not redis_reachable(server.url, timeout_seconds=0.2)


def test_unreachable_url_is_reported_unreachable():
    assert not redis_reachable(f"redis://127.0.0.1:{free_port()}/0", timeout_seconds=0.2)


def test_ensure_redis_starts_embedded_on_the_port_of_an_unreachable_local_url(tmp_path):
    from lighterweb.redis_server import ensure_redis

    port = free_port()

    url, server = ensure_redis(f"redis://127.0.0.1:{port}/3", data_dir=tmp_path)
    try:
        assert url == f"redis://127.0.0.1:{port}/3"
        assert server is not None and redis_reachable(url, timeout_seconds=0.5)
    finally:
        if server is not None:
            server.stop()
    assert not redis_reachable(url, timeout_seconds=0.2)


def test_ensure_redis_uses_a_reachable_url_as_is(redis_url):
    from lighterweb.redis_server import ensure_redis

    url, server = ensure_redis(redis_url)

    assert (url, server) == (redis_url, None)
