"""The engine's tests run runners against the simulator with the session's real Redis."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):  # type: ignore[no-untyped-def]
    settings.REDIS_URL = redis_url
