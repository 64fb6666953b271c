"""The runner's command listener over a real Redis: it delivers pushed commands and ends when
cancelled, a cancel redis-py dropped included."""

from __future__ import annotations

import asyncio

from bots.engine.commands import Command, command_listen, command_publish
from tests.exchange.conftest import drop_own_cancel, ended_cancelled


async def test_the_listener_delivers_a_pushed_command(redis_url, settings) -> None:
    settings.REDIS_URL = redis_url
    got: list[Command] = []
    listening = asyncio.create_task(command_listen(redis_url, 71, got.append))
    try:
        for _ in range(100):  # until the subscription is in place
            await asyncio.to_thread(command_publish, 71, "stop")
            await asyncio.sleep(0.05)
            if got:
                break
        assert got and got[0].kind == "stop"
    finally:
        listening.cancel()


async def test_the_listener_ends_when_its_cancel_was_dropped(redis_url) -> None:
    """Its loop waits a second at a time for a message: a cancel redis-py dropped (see
    `exchange.errors.cancel_point`) left it listening forever, and the runner awaiting its end
    at stop with it."""

    async def dropped_then_listen() -> None:
        await drop_own_cancel()
        await command_listen(redis_url, 72, lambda _command: None)

    assert await ended_cancelled(asyncio.create_task(dropped_then_listen()), 5)


async def test_a_site_on_another_database_of_the_server_never_hears_the_command(
    redis_url, settings
) -> None:
    """Pub/sub ignores the database number: two sites (or two test sessions) on one Redis
    server, each in its own database, shared every bot's command channel, and a stop of one
    site's bot 73 woke the other's bot 73 (which dropped a placement under way for it)."""
    root, db = redis_url.rsplit("/", 1)
    other = f"{root}/{int(db) - 1 if int(db) > 1 else int(db) + 1}"
    settings.REDIS_URL = redis_url
    ours: list[Command] = []
    theirs: list[Command] = []
    listening = [
        asyncio.create_task(command_listen(redis_url, 73, ours.append)),
        asyncio.create_task(command_listen(other, 73, theirs.append)),
    ]
    try:
        for _ in range(100):  # until our subscription is in place (theirs was made first)
            await asyncio.to_thread(command_publish, 73, "stop")
            await asyncio.sleep(0.05)
            if ours:
                break
        assert ours and ours[0].kind == "stop"
        await asyncio.sleep(0.3)
        assert theirs == []
    finally:
        for task in listening:
            task.cancel()
