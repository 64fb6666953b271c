"""bots.engine.db_thread: a runner's DB calls run on its own thread and connection, which is closed
however the runner ends; outside a runner they use asgiref's shared thread."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.db import connection

from bots.engine.db_thread import db, own_db_thread
from bots.models import Market

pytestmark = pytest.mark.django_db(transaction=True)


def _thread_and_connection() -> tuple[str, object]:
    Market.objects.count()  # opens this thread's connection
    return threading.current_thread().name, connection.connection


async def test_a_runners_calls_share_one_thread_of_their_own() -> None:
    with own_db_thread("test-bot"):
        first, _ = await db(_thread_and_connection)()
        second, _ = await db(_thread_and_connection, writes=False)()
    shared, _ = await db(_thread_and_connection)()

    assert first == second and first.startswith("test-bot")
    assert not shared.startswith("test-bot")


async def test_the_connection_is_closed_when_the_runner_ends() -> None:
    with own_db_thread("test-bot"):
        _, raw = await db(_thread_and_connection)()
        holder = await db(lambda: connection)()
    assert raw is not None
    assert holder.connection is None


async def test_the_connection_is_closed_when_the_runner_is_cancelled() -> None:
    opened = asyncio.Event()
    holders: list[object] = []

    async def runner() -> None:
        with own_db_thread("test-bot"):
            holders.append(await db(lambda: (Market.objects.count(), connection)[1])())
            opened.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(runner())
    await opened.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert holders[0].connection is None  # type: ignore[attr-defined]
