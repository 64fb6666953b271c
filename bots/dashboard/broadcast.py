"""Live pushes to the dashboard: one helper per kind of change (house style 10).

Every writer (runner, services) calls the matching function right after its DB write. The push is
deferred with `transaction.on_commit`, so a rolled-back write never reaches a browser and a caller
inside `atomic()` pushes only what was committed. The payload is built at call time (the state the
caller just wrote) and sent to the Channels groups over the Redis channel layer:

- `dashboard`: the overview (bots, accounts, their orders and fills, events needing attention);
- `bot.<id>`: one bot's page (its orders, fills, events, ladder, PnL);
- `account.<id>`: one account's changes (and orders/fills that belong to no bot).

Each group message is `{"type": "lw.push", "kind": <kind>, "data": <payload>}`; consumers forward
`{"kind", "data"}` to the browser. A push that cannot reach Redis is logged and dropped: the page
resynchronises from a snapshot when it reconnects, and a bot must never fail because a dashboard
is down.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from datetime import datetime
from decimal import Decimal
from typing import Any

from channels.layers import get_channel_layer
from django.db import transaction
from redis.exceptions import RedisError

from bots import schemas
from bots.models import BotEvent, EventLevel, ExchangeAccount, Fill, GridBot, Order
from bots.notify import dispatch as notify_dispatch

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "lw.push"
DASHBOARD_GROUP = "dashboard"
# The overview shows only what needs an operator's eye; the bot page shows every event.
DASHBOARD_EVENT_LEVELS = frozenset({EventLevel.WARNING, EventLevel.ERROR})


def bot_group(bot_id: int) -> str:
    """Channels group of one bot's page."""
    return f"bot.{bot_id}"


def account_group(account_id: int) -> str:
    """Channels group of one account."""
    return f"account.{account_id}"


def bot_event(event: BotEvent) -> None:
    """Push a new BotEvent to its bot's page (and the overview when it needs attention)."""
    groups = [bot_group(event.bot_id)]
    if event.level in DASHBOARD_EVENT_LEVELS:
        groups.append(DASHBOARD_GROUP)
    _push(groups, "event", _event_payload(event))
    notify_dispatch.event_recorded(event)  # alerts, routed off this thread after the commit


def order_changed(order: Order) -> None:
    """Push an order's new state (created, sent, opened, filled, cancelled, rejected)."""
    _push(_trading_groups(order.bot_id, order.account_id), "order", _order_payload(order))


def _trading_groups(bot_id: int | None, account_id: int) -> list[str]:
    # Orders and fills are the busiest pushes: the bot's page shows them and the overview
    # recounts from them; no page listens to an account's group for them, and each group costs
    # a round trip to Redis per push.
    owner = bot_group(bot_id) if bot_id is not None else account_group(account_id)
    return [DASHBOARD_GROUP, owner]


def fill_recorded(fill: Fill) -> None:
    """Push a new fill."""
    _push(_trading_groups(fill.bot_id, fill.account_id), "fill", _fill_payload(fill))


def bot_changed(bot: GridBot) -> None:
    """Push a bot's status, desired state, centre, price or error.

    Unlike the other pushes, the payload is the row as committed, read after the commit: the
    runner and the services each write some of a bot's fields, and a caller's in-memory copy
    would carry the other writer's fields as they were when it loaded them (a runner's "stopped"
    push saying the operator still wants it running).
    """
    bot_id = bot.pk

    def send_committed() -> None:
        row = GridBot.objects.select_related("account", "market").filter(pk=bot_id).first()
        if row is not None:
            message = {"type": MESSAGE_TYPE, "kind": "bot", "data": _bot_payload(row)}
            _send([DASHBOARD_GROUP, bot_group(bot_id)], message)

    transaction.on_commit(send_committed)


def account_changed(account: ExchangeAccount, summary: dict[str, Any] | None = None) -> None:
    """Push an account's state; `summary` carries equity, balances, positions and budget use."""
    _push(
        [DASHBOARD_GROUP, account_group(account.pk)],
        "account",
        _account_payload(account, summary),
    )


def _push(groups: list[str], kind: str, data: dict[str, Any]) -> None:
    message = {"type": MESSAGE_TYPE, "kind": kind, "data": data}
    transaction.on_commit(lambda: _send(groups, message))


def _send(groups: list[str], message: dict[str, Any]) -> None:
    _sender.submit(groups, message)


class _Sender:
    """One event loop thread per process that sends every push, in order, without blocking.

    The writer (a runner's DB thread, a web request) only enqueues: a push never waits on Redis,
    and one long-lived loop keeps one channel-layer connection instead of opening one per push
    (async_to_sync from a plain thread would start a fresh loop, and connection, every time).
    A single queue keeps pushes in the order they were committed, so a page never sees an order
    "filled" before its "open". Restarted after a fork (Celery's prefork pool).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[list[str], dict[str, Any]]] | None = None
        self._pid = 0

    def submit(self, groups: list[str], message: dict[str, Any]) -> None:
        loop, queue = self._running()
        loop.call_soon_threadsafe(queue.put_nowait, (groups, message))

    def _running(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[Any]]:
        with self._lock:
            if self._loop is None or self._queue is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._loop = asyncio.new_event_loop()
                self._queue = asyncio.Queue()
                threading.Thread(
                    target=self._serve,
                    args=(self._loop, self._queue),
                    name="lw-broadcast",
                    daemon=True,
                ).start()
            return self._loop, self._queue

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any]) -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(_drain(queue))


async def _drain(queue: asyncio.Queue[tuple[list[str], dict[str, Any]]]) -> None:
    while True:
        groups, message = await queue.get()
        layer = get_channel_layer()
        if layer is None:
            continue
        try:
            await _send_async(layer, groups, message)
        except Exception:  # the sender's one top-level handler: one bad push must not end pushes
            logger.exception("dashboard push %s to %s failed", message["kind"], groups)


_sender = _Sender()


async def _send_async(layer: Any, groups: list[str], message: dict[str, Any]) -> None:
    try:
        for group in groups:
            await layer.group_send(group, message)
    except (RedisError, OSError) as error:
        logger.warning("dashboard push %s to %s dropped: %s", message["kind"], groups, error)


# -- payloads ------------------------------------------------------------------------------------
# The REST API's schemas (bots.schemas), so a client sees one shape whichever way data arrived.


def _event_payload(event: BotEvent) -> dict[str, Any]:
    return schemas.payload(schemas.EventOut, event)


def _order_payload(order: Order) -> dict[str, Any]:
    return schemas.payload(schemas.OrderOut, order)


def _fill_payload(fill: Fill) -> dict[str, Any]:
    return schemas.payload(schemas.FillOut, fill)


def _bot_payload(bot: GridBot) -> dict[str, Any]:
    return schemas.payload(schemas.GridBotOut, bot)


def _account_payload(account: ExchangeAccount, summary: dict[str, Any] | None) -> dict[str, Any]:
    # AccountOut carries no secret, only whether each key is stored (design decision 8).
    return {
        "account": schemas.payload(schemas.AccountOut, account),
        "summary": _jsonable(summary) if summary is not None else None,
    }


def _jsonable(value: Any) -> Any:
    """Decimals as strings, containers walked: the channel layer carries msgpack, not Decimals."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value
