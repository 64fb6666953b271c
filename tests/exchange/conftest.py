"""Exchange-client fixtures: a LighterClient on a funded simulator account, client indexes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from exchange.client import LighterClient


async def drop_own_cancel() -> None:
    """Leave the current task as a cancel that Python 3.11's `asyncio.wait_for` dropped leaves
    it (redis-py's calls use it; `exchange.errors.cancel_point`): the request on the task,
    its CancelledError gone."""
    task = asyncio.current_task()
    assert task is not None
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(0)


async def ended_cancelled(task: asyncio.Task[Any], within_s: float) -> bool:
    """Whether `task` ended cancelled within `within_s`; it is cancelled and awaited anyway."""
    try:
        done, _ = await asyncio.wait({task}, timeout=within_s)
        return task in done and task.cancelled()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


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
