"""Live pushes to the dashboard: one helper per kind of change (house style 10).

Every writer (runner, services) calls the matching function right after its DB write. The push is
deferred with `transaction.on_commit`, so a rolled-back write never reaches a browser and a caller
inside `atomic()` pushes only what was committed. The payload is built at call time (the state the
caller just wrote), except where no page watches (below), and sent to the Channels groups over the
Redis channel layer:

- `dashboard`: the overview (bots, accounts, their orders and fills, events needing attention);
- `bot.<id>`: one bot's page (its orders, fills, events, ladder, PnL);
- `account.<id>`: one account's changes (and orders/fills that belong to no bot).

Each group message is `{"type": "lw.push", "kind": <kind>, "data": <payload>}`; consumers forward
`{"kind", "data"}` to the browser. Only groups with a member (an open page) are sent to: the
sender asks Redis which of a drain's groups have one, in one round trip
(`lighterweb.channel_layer.PushChannelLayer.groups_with_members`), and the process keeps that
answer for MEMBERSHIP_TTL_S. Within it a push whose groups all had no member is dropped where it
is handed over: a worker with no dashboard open pays one round trip every MEMBERSHIP_TTL_S, not
one per drain, and its sender thread is not even woken. Its payload is not even built: inside a
transaction it is built at the commit, and only if a page joined meanwhile (that page's catch-up
snapshot, below, follows it and corrects it should the object have moved on in the transaction).

A page that opens within that time may miss such a push, so every consumer joins through `join`
(which makes this process ask again) and reads its snapshot again CATCH_UP_S after it joined
(`bots.dashboard.consumers`). A push is only dropped on an answer asked before the page joined,
hence before JOIN + MEMBERSHIP_TTL_S, and its write committed before it was handed over: the
second snapshot, read after that, has it. Pushes after it reach the page as before.

A push that cannot reach Redis is logged and dropped: the page resynchronises from a snapshot
when it reconnects, and a bot must never fail because a dashboard is down.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from channels.layers import get_channel_layer
from django.db import transaction
from redis.exceptions import RedisError

from bots import schemas
from bots.models import (
    Bot,
    BotEvent,
    EventLevel,
    ExchangeAccount,
    Fill,
    GridBot,
    HedgeBot,
    Order,
)
from bots.notify import dispatch as notify_dispatch

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "lw.push"
# Several pushes to one group in one message (consumers unpack it into `lw.push`es, in order).
BATCH_TYPE = "lw.batch"
DASHBOARD_GROUP = "dashboard"
# The overview shows only what needs an operator's eye; the bot page shows every event.
DASHBOARD_EVENT_LEVELS = frozenset({EventLevel.WARNING, EventLevel.ERROR})
# How long the sender gathers commits before sending them together (added to a push's latency).
GATHER_SECONDS = 0.02
# How long a process trusts an answer to "which of these groups has a member" (module docstring).
MEMBERSHIP_TTL_S = 1.0
# When a page reads its snapshot again after joining: past every answer asked before it joined,
# with room for the drain that was gathering then.
CATCH_UP_S = MEMBERSHIP_TTL_S + 0.5


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
    _push(groups, "event", lambda: _event_payload(event))
    notify_dispatch.event_recorded(event)  # alerts, routed off this thread after the commit


def order_changed(order: Order) -> None:
    """Push an order's new state (created, sent, opened, filled, cancelled, rejected)."""
    _push(_trading_groups(order.bot_id, order.account_id), "order", lambda: _order_payload(order))


def _trading_groups(bot_id: int | None, account_id: int) -> list[str]:
    # Orders and fills are the busiest pushes: the bot's page shows them and the overview
    # recounts from them; no page listens to an account's group for them, and each watched group
    # costs a group send (round trips to Redis) per drain.
    owner = bot_group(bot_id) if bot_id is not None else account_group(account_id)
    return [DASHBOARD_GROUP, owner]


def fill_recorded(fill: Fill) -> None:
    """Push a new fill."""
    _push(_trading_groups(fill.bot_id, fill.account_id), "fill", lambda: _fill_payload(fill))


def bot_changed(bot: Bot) -> None:
    """Push a bot's status, desired state, centre, price or error.

    Unlike the other pushes, the payload is the row as committed, read after the commit: the
    runner and the services each write some of a bot's fields, and a caller's in-memory copy
    would carry the other writer's fields as they were when it loaded them (a runner's "stopped"
    push saying the operator still wants it running).
    """
    bot_id = bot.pk
    hedge = isinstance(bot, HedgeBot)

    def send_committed() -> None:
        groups = [DASHBOARD_GROUP, bot_group(bot_id)]
        grids = GridBot.objects.select_related("account", "market")
        row = None if hedge else grids.filter(pk=bot_id).first()
        if row is not None:
            _send(groups, {"type": MESSAGE_TYPE, "kind": "bot", "data": _bot_payload(row)})
            return
        # A hedge bot (its row has other figures): the pages watching it recompute them.
        _send(groups, {"type": MESSAGE_TYPE, "kind": "hedge_changed", "data": {"id": bot_id}})

    transaction.on_commit(send_committed)


# Run-state fields only the runner writes: pushed as they were written, without a read-back.
RUN_STATE_FIELDS = frozenset({"centre_index", "last_price", "anchor_price"})


def bot_run_state(bot_id: int, fields: dict[str, Any]) -> None:
    """Push run-state fields the runner just wrote (centre, prices) as a partial `bot` payload.

    The runner is their only writer, so its values are the committed ones: no read-back of the
    row (which cost a query per centre move). Pages merge a `bot` push into the bot they have.
    """
    data = {"id": bot_id, **{name: _jsonable(value) for name, value in fields.items()}}
    _push([DASHBOARD_GROUP, bot_group(bot_id)], "bot", lambda: data)


def account_changed(account: ExchangeAccount, summary: dict[str, Any] | None = None) -> None:
    """Push an account's state; `summary` carries equity, balances, positions and budget use."""
    _push(
        [DASHBOARD_GROUP, account_group(account.pk)],
        "account",
        lambda: _account_payload(account, summary),
    )


Push = tuple[list[str], dict[str, Any]]
# What builds a push's data (called at once, or at the commit: `_push`).
Payload = Callable[[], dict[str, Any]]


class _Batch:
    """The pushes of one transaction: handed to the sender together when it commits."""

    def __init__(self) -> None:
        # Each push's groups, kind and data, or what builds its data when no page watched.
        self.items: list[tuple[list[str], str, dict[str, Any] | Payload]] = []

    def flush(self) -> None:
        pushes: list[Push] = []
        for groups, kind, data in self.items:
            if callable(data):
                if _sender.unwatched(groups):
                    continue
                data = data()  # a page joined during the transaction
            pushes.append((groups, {"type": MESSAGE_TYPE, "kind": kind, "data": data}))
        _sender.submit(pushes)


# The batch of the transaction open on this thread, if any.
_open = threading.local()


def _push(groups: list[str], kind: str, payload: Payload) -> None:
    """Push `payload()` to `groups` when the open transaction commits (now outside one); when no
    page watched any of them by this process's fresh answer, `payload` is only called at the
    commit, if one does by then."""
    connection = transaction.get_connection()
    unwatched = _sender.unwatched(groups)
    if not connection.in_atomic_block:
        if not unwatched:
            _send(groups, {"type": MESSAGE_TYPE, "kind": kind, "data": payload()})
        return
    batch: _Batch | None = getattr(_open, "batch", None)
    # A batch whose transaction committed or rolled back is no longer among the callbacks.
    if batch is None or not any(func == batch.flush for _, func, _ in connection.run_on_commit):
        batch = _open.batch = _Batch()
        transaction.on_commit(batch.flush)
    batch.items.append((groups, kind, payload if unwatched else payload()))


def _send(groups: list[str], message: dict[str, Any]) -> None:
    _sender.submit([(groups, message)])


def coalesce(items: list[Push]) -> dict[str, list[dict[str, Any]]]:
    """The messages of a batch per group, in order, one per object: a later push of the same
    order, fill or event replaces an earlier one, and `bot` pushes (whole or partial) merge."""
    per_group: dict[str, dict[tuple[str, Any], dict[str, Any]]] = {}
    for groups, message in items:
        kind, data = message["kind"], message["data"]
        key = (kind, data.get("id", id(data)) if isinstance(data, dict) else id(data))
        for group in groups:
            messages = per_group.setdefault(group, {})
            earlier = messages.pop(key, None)
            if earlier is not None and kind == "bot":
                data = {**earlier["data"], **data}
            messages[key] = {**message, "data": data}
    return {group: list(messages.values()) for group, messages in per_group.items()}


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
        self._pid = 0
        # Pushes handed over and not yet taken by the sender, in commit order, and whether the
        # sender was woken for them: a burst of commits wakes it once, not once per commit.
        self._pending: list[Push] = []
        self._woken = False
        self._wake: asyncio.Event | None = None
        # Wake-ups scheduled (for tests).
        self.wakes = 0
        # The last answer to which groups have a member, and the count of joins (`forget`): an
        # answer asked before a join in this process is not kept.
        self._membership: _Membership | None = None
        self._joins = 0

    def submit(self, items: list[Push]) -> None:
        """Queue a batch of pushes (the sender is woken only when it is not already); a batch
        whose groups all had no member by a fresh answer is dropped here."""
        if not items or all(self.unwatched(groups) for groups, _ in items):
            return
        with self._lock:
            loop, wake = self._running()
            self._pending.extend(items)
            if self._woken:
                return
            self._woken = True
            self.wakes += 1
        loop.call_soon_threadsafe(wake.set)

    def unwatched(self, groups: list[str]) -> bool:
        """True when none of `groups` had a member by this process's fresh answer."""
        known = self._fresh(get_channel_layer())
        if known is None:
            return False
        return all(group in known.asked and group not in known.watched for group in groups)

    def _fresh(self, layer: Any) -> _Membership | None:
        """The last answer, if it is about `layer` and younger than MEMBERSHIP_TTL_S."""
        known = self._membership
        if known is None or known.layer is not layer:
            return None
        if time.monotonic() - known.at >= MEMBERSHIP_TTL_S:
            return None
        return known

    def forget(self, group: str) -> None:
        """A page joined `group` in this process: the next push to it asks Redis again."""
        with self._lock:
            self._joins += 1
            known = self._membership
            if known is not None:
                self._membership = known._replace(asked=known.asked - {group})

    async def watched(self, layer: Any, groups: list[str]) -> set[str]:
        """Which of `groups` have a member: by the fresh answer when it covers them all, else
        asked (with the groups that answer covered, so it keeps covering them). No group when
        Redis cannot be reached (then nothing is kept)."""
        known = self._fresh(layer)
        if known is not None and known.asked.issuperset(groups):
            return set(known.watched.intersection(groups))
        asked = frozenset(groups) | (known.asked if known is not None else frozenset())
        with self._lock:
            joins = self._joins
        at = time.monotonic()
        found = await _watched(layer, list(asked))
        if found is None:
            return set()
        with self._lock:
            if self._joins == joins:  # no page joined meanwhile: the answer still holds
                self._membership = _Membership(layer, at, asked, frozenset(found))
        return found.intersection(groups)

    def take(self) -> list[Push]:
        """Everything handed over since the last take (on the sender's thread)."""
        with self._lock:
            items, self._pending, self._woken = self._pending, [], False
        return items

    def _running(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Event]:
        # Under self._lock.
        if self._loop is None or self._wake is None or self._pid != os.getpid():
            self._pid = os.getpid()
            self._pending, self._woken, self._membership = [], False, None
            self._loop = asyncio.new_event_loop()
            self._wake = asyncio.Event()
            threading.Thread(
                target=self._serve, args=(self._loop, self._wake), name="lw-broadcast", daemon=True
            ).start()
        return self._loop, self._wake

    def _serve(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(_drain(self, wake))


async def _drain(sender: _Sender, wake: asyncio.Event) -> None:
    while True:
        await wake.wait()
        wake.clear()
        # Commits of the next moment go out with this one (a fill's intents, its record and the
        # exchange's acks come within milliseconds, and so do other bots' fills): one group send
        # per group for all of them, each costing round trips to Redis, instead of one per commit.
        await asyncio.sleep(GATHER_SECONDS)
        items = sender.take()
        if not items:
            continue
        layer = get_channel_layer()
        if layer is None:
            continue
        per_group = coalesce(items)
        # Most drains go to groups no page watches (a bots worker with no dashboard open): one
        # round trip (or a fresh answer) finds which groups have a member, and only those get a
        # group send.
        try:
            watched = await sender.watched(layer, list(per_group))
        except Exception:  # as below: a failed check must not end pushes
            logger.exception("dashboard pushes to %s failed", list(per_group))
            continue
        for group, messages in per_group.items():
            if group not in watched:
                continue
            message = messages[0] if len(messages) == 1 else _batch_message(messages)
            try:
                await _send_async(layer, [group], message)
            except Exception:  # the sender's top-level handler: one bad push must not end pushes
                logger.exception("dashboard push %s to %s failed", message.get("kind"), group)


class _Membership(NamedTuple):
    """An answer to which groups have a member: of `layer`, asked at `at` (monotonic)."""

    layer: Any
    at: float
    asked: frozenset[str]
    watched: frozenset[str]


async def _watched(layer: Any, groups: list[str]) -> set[str] | None:
    """The groups that have a member, by the layer's one-round-trip check if it has one (the
    site's `lighterweb.channel_layer.PushChannelLayer`); all of them otherwise. None when Redis
    cannot be reached: the drain's pushes are logged and dropped, as a failed group send's are."""
    check = getattr(layer, "groups_with_members", None)
    if check is None:
        return set(groups)
    try:
        found: set[str] = await check(groups)
    except (RedisError, OSError) as error:
        logger.warning("dashboard pushes to %s dropped: %s", groups, error)
        return None
    return found


async def join(layer: Any, group: str, channel: str) -> None:
    """Add a page's `channel` to `group`, and have this process's next push to it ask Redis
    whether it has a member (not go by an answer from before the page joined)."""
    await layer.group_add(group, channel)
    _sender.forget(group)


def _batch_message(messages: list[dict[str, Any]]) -> dict[str, Any]:
    items = [{"kind": m["kind"], "data": m["data"]} for m in messages]
    return {"type": BATCH_TYPE, "kind": "batch", "items": items}


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
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return value
