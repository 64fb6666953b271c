"""Shared fixtures: a real Redis (reachable or embedded) for the whole session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from lighterweb.redis_server import EmbeddedRedis, free_port, redis_reachable

# Fixture modules owned by the parts they serve (the simulator server fixture, ...), and the guard
# that fails a test reading outside the repository (first, so it sees every later import).
pytest_plugins = [
    "tests.plugins.repo_only",
    "tests.plugins.simulator",
    "tests.plugins.session_redis",
]

TEST_REDIS_DBS = range(15, 7, -1)
CLAIM_TTL_SECONDS = 3 * 3600


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a real Redis for tests: REDIS_URL's server if it answers, else an embedded one.

    Each pytest session claims one of databases 15..8 (a NX key in db 0, released at the end) and
    flushes only that one, so parallel sessions and a developer's data never collide.
    """
    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    server: EmbeddedRedis | None = None
    if not redis_reachable(base):
        server = EmbeddedRedis(port=free_port(), data_dir=_tmp_redis_dir()).start()
        base = server.url
    root = base.rsplit("/", 1)[0]
    claims = redis.Redis.from_url(f"{root}/0")
    token = f"{os.getpid()}"
    db = next(
        (
            n
            for n in TEST_REDIS_DBS
            if claims.set(_claim_key(n), token, nx=True, ex=CLAIM_TTL_SECONDS)
        ),
        None,
    )
    if db is None:
        pytest.exit("every test Redis database (15..8) is claimed by another pytest session")
    url = f"{root}/{db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    yield url
    if claims.get(_claim_key(db)) == token.encode():
        claims.delete(_claim_key(db))
    claims.close()
    if server is not None:
        server.stop()


def _claim_key(db: int) -> str:
    return f"lighterweb:test-db-claim:{db}"


@pytest.fixture(autouse=True)
def _two_factor_off_unless_a_test_asks(settings) -> None:  # type: ignore[no-untyped-def]
    """REQUIRE_2FA follows DEBUG (on in production); tests log admins in with force_login, so
    it is off unless a test of two-factor login turns it on (tests/lighterweb/test_login.py)."""
    settings.REQUIRE_2FA = False


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def _tmp_redis_dir():  # type: ignore[no-untyped-def]
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="lighterweb-redis-"))
