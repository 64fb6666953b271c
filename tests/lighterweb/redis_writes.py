"""A redis-py connection that counts its round trips per thread, for tests of Redis costs."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from redis.asyncio import Connection


class CountedConnection(Connection):
    """redis-py's own asyncio connection, counting its writes by the thread that made them: one
    write per request, a pipeline of many commands included, so a count is of round trips.

    Give it to a channel layer as a host's `connection_class`."""

    writes: Counter[str] = Counter()

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).writes[threading.current_thread().name] += 1
        await super().send_packed_command(command, check_health)
