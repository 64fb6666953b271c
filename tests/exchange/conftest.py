"""Exchange-client fixtures: a LighterClient on a funded simulator account, client indexes."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from exchange.client import LighterClient


def client_for(simulator: Any, account: Any, redis_url: str, **overrides: Any) -> LighterClient:
    """A LighterClient for a simulator account (premium tier unless overridden)."""
    options: dict[str, Any] = {
        "ws_url": simulator.ws_url,
        "account_index": account.index,
        "api_key_index": account.api_key_index,
        "api_private_key": account.private_key,
        "l1_address": account.l1_address,
        "redis_url": redis_url,
        "tier": "premium",
        **overrides,
    }
    return LighterClient(simulator.base_url, **options)


@pytest.fixture
async def client(
    simulator, funded_account, redis_url, redis_client
) -> AsyncIterator[LighterClient]:
    """The funded account's client; Redis (nonces, budget) flushed first."""
    async with client_for(simulator, funded_account, redis_url) as c:
        yield c


@pytest.fixture
def ids() -> Iterator[int]:
    """Client order indexes, counting up from 1."""
    return itertools.count(1)
