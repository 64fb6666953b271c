"""How a bot's runner reaches the database: `db(fn)` runs a synchronous ORM function without
blocking the runner's event loop.

Inside `own_db_thread` (the whole life of a runner) calls go to the bot's own thread and
connection; elsewhere to asgiref's one shared thread. With that single shared thread every bot
of a worker process queued behind the others' transactions, and the fill -> replenish latency
grew with the number of bots.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from functools import partial
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import InterfaceError, OperationalError, connections

P = ParamSpec("P")
T = TypeVar("T")


# The running bot's own DB thread (set by `own_db_thread` for the runner's task and the tasks it
# starts). Without one, calls go through asgiref's single shared thread.
_bot_db_thread: ContextVar[ThreadPoolExecutor | None] = ContextVar("bot_db_thread", default=None)


def db(fn: Callable[P, T], *, writes: bool = True) -> Callable[P, Awaitable[T]]:
    """A sync ORM function made awaitable for the runner: on the bot's own DB thread when it runs
    in `own_db_thread`, else on asgiref's one shared thread. `writes=False` for a read, which
    on SQLite need not wait for the writers' turn (WAL readers never block)."""
    executor = _bot_db_thread.get()
    if executor is None:
        return sync_to_async(fn, thread_sensitive=True)
    on_thread = _in_turn if writes else _call

    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, partial(on_thread, fn, *args, **kwargs))

    return call


# SQLite has one writer; a blocked one waits in SQLite's busy handler, which sleeps 1, 2, 5, 10
# ... 100 ms between tries. The bots of one process take turns here instead and are woken as
# soon as the writer before them is done. (Other processes still meet in the busy handler.)
_SQLITE_TURN = threading.Lock()


@functools.cache
def _one_writer() -> bool:
    # Asked once per process: `connections[...]` goes through asgiref's context-local storage,
    # and the backend of a process does not change.
    return connections["default"].vendor == "sqlite"


def _in_turn(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    if not _one_writer():
        return _call(fn, *args, **kwargs)
    with _SQLITE_TURN:
        return _call(fn, *args, **kwargs)


def _call(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    try:
        return fn(*args, **kwargs)
    except (InterfaceError, OperationalError):
        # A broken or timed-out connection: the bot's next call opens a fresh one.
        connections.close_all()
        raise


@contextlib.contextmanager
def own_db_thread(name: str) -> Iterator[None]:
    """Give the current task (a bot's runner) and the tasks it starts a DB thread and
    connection of their own; the connection is closed on that thread when the block ends,
    however it ends (also on cancel)."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    token = _bot_db_thread.set(executor)
    try:
        yield
    finally:
        _bot_db_thread.reset(token)
        executor.submit(connections.close_all)
        # Waits at most for the DB call in flight (milliseconds), then the thread ends.
        executor.shutdown(wait=True)
