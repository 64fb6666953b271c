"""Hand committed BotEvents to the alerts without slowing their writer.

`bots.dashboard.broadcast.bot_event` calls `event_recorded` for every new event. An event that
no channel wants by the cached routes (when they are fresh) stops there. Otherwise, after the
commit, the event's id, kind, level and bot go onto an in-process queue — that put is all the
writer (a runner's DB thread, a web request) ever pays. One daemon thread per process takes them
off, matches them against the routes of the enabled channels (cached for ROUTES_TTL_SECONDS, so
a burst of fills costs one query at most every few seconds) and enqueues `notify_event_task` for
the events some channel wants. Publishing to the broker happens on that thread, so a slow or
unreachable Redis never reaches the runner either.

A channel changed in the admin reaches the other processes within ROUTES_TTL_SECONDS; the
process that changed it drops its cache at once (`routes_invalidate`).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass

from django.db import connections, transaction

from bots.models import BotEvent
from bots.notify import rules
from bots.notify.rules import Route
from bots.notify.selectors import route_list
from bots.notify.tasks import notify_event_task

logger = logging.getLogger(__name__)

ROUTES_TTL_SECONDS = 5.0


@dataclass(frozen=True)
class EventRef:
    """What the dispatcher needs to know about an event to route it."""

    event_id: int
    kind: str
    level: str
    bot_id: int


def event_recorded(event: BotEvent) -> None:
    """Route `event` to the alerts once its transaction commits (never before, never waits).

    An event no channel wants, by routes fresh in this process's cache, is dropped here: most
    of a runner's events (fills, plans) go to no channel, and a hand-over per event to the
    dispatcher's thread was a tenth of a fill's recording."""
    ref = EventRef(event.pk, event.kind, event.level, event.bot_id)
    if _dispatcher.unwanted(ref):
        return
    transaction.on_commit(lambda: _dispatcher.submit(ref))


def handed_over() -> int:
    """How many events this process handed to the dispatcher's thread so far (tests)."""
    return _dispatcher.submitted


def routes_invalidate() -> None:
    """Forget this process's cached routes (after a channel changed here)."""
    _dispatcher.invalidate()


def wait_idle(timeout_s: float) -> bool:
    """Wait until every submitted event has been routed (tests; a clean shutdown)."""
    return _dispatcher.wait_idle(timeout_s)


class _Dispatcher:
    """The queue and the one thread that routes events, restarted after a fork."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._queue: queue.SimpleQueue[EventRef] = queue.SimpleQueue()
        self._pending = 0
        self._pid = 0
        # The routes and when they were read, replaced as one (read by writers' threads).
        self._routes: tuple[list[Route], float] = ([], float("-inf"))
        self.submitted = 0

    def submit(self, ref: EventRef) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._queue = queue.SimpleQueue()
                self._pending = 0
                threading.Thread(
                    target=self._serve, args=(self._queue,), name="lw-notify", daemon=True
                ).start()
            self._pending += 1
            self.submitted += 1
            self._queue.put(ref)

    def unwanted(self, ref: EventRef) -> bool:
        """True when the cached routes are fresh and none accepts `ref`. Stale routes say
        nothing: the event goes to the thread, which refreshes them."""
        routes, at = self._routes
        if time.monotonic() - at > ROUTES_TTL_SECONDS:
            return False
        return not _accepted(ref, routes)

    def invalidate(self) -> None:
        self._routes = ([], float("-inf"))

    def wait_idle(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return True

    def _serve(self, refs: queue.SimpleQueue[EventRef]) -> None:
        while True:
            ref = refs.get()
            try:
                self._route(ref)
            except Exception:  # the thread's one top-level handler: one event must not end alerts
                logger.exception("notify: routing event %s (%s) failed", ref.event_id, ref.kind)
            finally:
                # This thread's connection must not outlive its work (PostgreSQL drops a
                # test database only when nobody holds it open).
                connections.close_all()
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _route(self, ref: EventRef) -> None:
        if _accepted(ref, self._current_routes()):
            notify_event_task.delay(ref.event_id)

    def _current_routes(self) -> list[Route]:
        routes, at = self._routes
        if time.monotonic() - at > ROUTES_TTL_SECONDS:
            routes = route_list()
            self._routes = (routes, time.monotonic())
        return routes


def _accepted(ref: EventRef, routes: list[Route]) -> bool:
    kind = rules.alert_kind_of(ref.kind, ref.level)
    return any(route.accepts(kind, ref.level, ref.bot_id) for route in routes)


_dispatcher = _Dispatcher()
