"""Dashboard websockets: thin consumers that check the user, join a group and forward pushes.

`/ws/dashboard/` joins `dashboard`; `/ws/bots/<id>/` joins `bot.<id>`, and so does a hedge bot's
`/ws/hedge/<id>/` (which sends only its recomputed figures, `hedge`). On connect the page gets a
snapshot (`{"kind": "snapshot", "data": ...}` from `bots.dashboard.snapshots`), then every push that
`bots.dashboard.broadcast` sends to its group as `{"kind": ..., "data": ...}`. The group is joined
before the
snapshot is read, so nothing committed after the snapshot can be missed; a push that overlaps the
snapshot is merged by id on the page. The snapshot is read again `broadcast.CATCH_UP_S` after
the join (`catch_up`): a process that found the group without a member just before the page
joined drops pushes to it for a moment (`bots.dashboard.broadcast`), and that second read has
what they carried.

Figures derived from many rows (a bot's ladder and PnL, an account's balances and open orders)
are recomputed after the pushes that change them, coalesced over REFRESH_DELAY_S so a batch of
ten orders costs one recomputation, and sent as their own kinds (`ladder`, `pnl`,
`bot_summary`, `account_summary`).

Only active staff users whose role may view bots (bots.permissions) get in: anyone else is
refused at the handshake (close code 4403), an unknown bot with 4404. Access is checked again
every ACCESS_RECHECK_SECONDS and before a push when the last check is older than that, against
the session store and the user row as they are now: a user who is de-staffed, loses the role,
is deactivated, logs out everywhere or changes password is disconnected (4403) within seconds.
Origins are checked in lighterweb.asgi.
"""

from __future__ import annotations

import asyncio
import logging
import time
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.db import DatabaseError
from django.utils.crypto import constant_time_compare
from django_otp import DEVICE_ID_SESSION_KEY
from redis.exceptions import RedisError

from bots import permissions
from bots.dashboard import broadcast, snapshots
from bots.models import GridBot
from lighterweb.twofactor import two_factor_required

logger = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
REFRESH_DELAY_S = 0.2
# A hedge page's figures are recomputed at least this often (the accounts' checks, the state's
# age), pushes or none.
HEDGE_RECHECK_S = 5.0


def _recheck_seconds() -> float:
    return float(settings.DASHBOARD_ACCESS_RECHECK_SECONDS)


def access_current(scope: dict[str, Any]) -> bool:
    """Whether the socket's user may still watch: read fresh from the session store and the
    user table (the scope's copies date from the handshake)."""
    user = scope.get("user")
    session = scope.get("session")
    session_key = getattr(session, "session_key", None)
    if user is None or not user.is_authenticated or not session_key:
        return False
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    if str(store.get(SESSION_KEY)) != str(user.pk):
        return False  # logged out, or the session was deleted (log out everywhere)
    fresh = get_user_model().objects.filter(pk=user.pk).first()
    if fresh is None or not constant_time_compare(
        str(store.get(HASH_SESSION_KEY, "")), fresh.get_session_auth_hash()
    ):
        return False  # the password changed since this session logged in
    if two_factor_required(fresh) and not store.get(DEVICE_ID_SESSION_KEY):
        return False  # an admin-role session that has not given its second factor
    return permissions.dashboard_allowed(fresh)


class _PushConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Forwards `lw.push` group messages; collects what to recompute and sends it in one go."""

    group: str | None = None
    bot_id: int  # a bot page's (`join_bot`)
    # Whether group pushes go to the page as they are (False: only what `recompute` makes).
    forwards = True

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        self._stale: set[tuple[str, int]] = set()
        self._refresh: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._catch_up: asyncio.Task[None] | None = None
        self._access_checked_at = time.monotonic()
        await super().websocket_connect(message)

    def watch_access(self) -> None:
        """Start re-checking access, and the snapshot's second read (call once the socket is
        accepted)."""
        self._access_checked_at = time.monotonic()
        loop = asyncio.get_running_loop()
        self._watch = loop.create_task(self._watch_access())
        self._catch_up = loop.create_task(self._catch_up_later())

    async def _catch_up_later(self) -> None:
        await asyncio.sleep(broadcast.CATCH_UP_S)
        try:
            messages = await database_sync_to_async(self.catch_up)()
        except (DatabaseError, RedisError) as error:
            # The pushes after it still come; a reconnect reads the snapshot again.
            logger.warning("dashboard snapshot re-read failed: %s", error)
            return
        for message in messages:
            await self.send_json(message)

    def catch_up(self) -> list[dict[str, Any]]:
        """The page's snapshot read again (synchronous: runs in a DB thread)."""
        return []

    async def _watch_access(self) -> None:
        while True:
            await asyncio.sleep(_recheck_seconds())
            if not await self._still_allowed():
                return

    async def _still_allowed(self) -> bool:
        self._access_checked_at = time.monotonic()
        try:
            allowed: bool = await database_sync_to_async(access_current)(self.scope)
        except DatabaseError as error:
            # Cannot tell: keep the socket (the next check decides) rather than drop every page.
            logger.warning("dashboard access re-check failed: %s", error)
            return True
        if not allowed:
            logger.info("dashboard websocket closed: access withdrawn for %s", self.scope["user"])
            await self.close(code=CLOSE_FORBIDDEN)
        return allowed

    async def join_bot(self) -> bool:
        """A bot page's opening: refuse (4403) a user who may not watch, else take the bot's id
        from the route and join its group; False when refused."""
        if not await database_sync_to_async(access_current)(self.scope):
            await self.close(code=CLOSE_FORBIDDEN)
            return False
        self.bot_id = int(self.scope["url_route"]["kwargs"]["bot_id"])
        await self.join(broadcast.bot_group(self.bot_id))
        return True

    async def refuse_not_found(self) -> None:
        """Leave the group joined for the snapshot and close with 4404 (no such bot)."""
        await self.channel_layer.group_discard(self.group, self.channel_name)
        self.group = None
        await self.close(code=CLOSE_NOT_FOUND)

    async def join(self, group: str) -> None:
        self.group = group
        await broadcast.join(self.channel_layer, group, self.channel_name)

    async def lw_push(self, message: dict[str, Any]) -> None:
        """A `bots.dashboard.broadcast` push: forward it, then schedule the recomputations it
        implies."""
        overdue = time.monotonic() - self._access_checked_at > _recheck_seconds()
        if overdue and not await self._still_allowed():
            return
        if self.forwards:
            await self.send_json({"kind": message["kind"], "data": message["data"]})
        stale = self.stale_after(message["kind"], message["data"])
        if stale:
            self._stale |= stale
            if self._refresh is None:
                self._refresh = asyncio.get_running_loop().create_task(self._refresh_later())

    async def lw_batch(self, message: dict[str, Any]) -> None:
        """Several pushes of one commit (`bots.dashboard.broadcast`): each as its own push."""
        for item in message["items"]:
            await self.lw_push(item)

    def stale_after(self, kind: str, data: dict[str, Any]) -> set[tuple[str, int]]:
        """(what, id) pairs a push of `kind` makes stale; none by default."""
        return set()

    def recompute(self, stale: set[tuple[str, int]]) -> list[dict[str, Any]]:
        """The messages that refresh `stale` (synchronous: runs in a DB thread)."""
        return []

    async def _refresh_later(self) -> None:
        await asyncio.sleep(REFRESH_DELAY_S)
        stale, self._stale, self._refresh = self._stale, set(), None
        try:
            messages = await database_sync_to_async(self.recompute)(stale)
        except (DatabaseError, RedisError) as error:
            # The page keeps its last figures; the next push (or a reconnect) refreshes them.
            logger.warning("dashboard refresh of %s failed: %s", sorted(stale), error)
            return
        for message in messages:
            await self.send_json(message)

    async def disconnect(self, code: int) -> None:
        tasks = ("_refresh", "_watch", "_catch_up")
        for task in (getattr(self, name, None) for name in tasks):
            if task is not None:
                task.cancel()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        # The page only listens; controls go through CSRF-protected POST views. Nothing a client
        # sends is even parsed, so no frame (deeply nested JSON, garbage) can cost more than this.
        logger.debug("dashboard websocket ignored a client message")


class DashboardConsumer(_PushConsumer):
    """The overview: every account and bot."""

    async def connect(self) -> None:
        if not await database_sync_to_async(access_current)(self.scope):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.join(broadcast.DASHBOARD_GROUP)
        await self.accept()
        self.watch_access()
        snapshot = await database_sync_to_async(snapshots.overview_snapshot)()
        await self.send_json({"kind": "snapshot", "data": snapshot})

    def catch_up(self) -> list[dict[str, Any]]:
        return [{"kind": "snapshot", "data": snapshots.overview_snapshot()}]

    def stale_after(self, kind: str, data: dict[str, Any]) -> set[tuple[str, int]]:
        stale: set[tuple[str, int]] = set()
        if kind == "bot" and "pnl" in data:
            return stale  # a runner's mark push carries its PnL: nothing to recompute
        if kind in {"order", "fill", "bot"} and data.get("bot_id", data.get("id")) is not None:
            stale.add(("bot", int(data["bot_id"] if kind != "bot" else data["id"])))
        if kind in {"order", "fill", "account"}:
            account_id = data["account"]["id"] if kind == "account" else data["account_id"]
            stale.add(("account", int(account_id)))
        if kind == "hedge_changed":
            stale.add(("hedge", int(data["id"])))
        return stale

    def recompute(self, stale: set[tuple[str, int]]) -> list[dict[str, Any]]:
        rows = {
            "bot": snapshots.bot_summary,
            "account": snapshots.account_row,
            "hedge": snapshots.hedge_row,
        }
        messages = []
        for what, pk in sorted(stale):
            row = rows[what](pk)
            if row is not None:
                messages.append({"kind": f"{what}_summary", "data": row})
        return messages


class BotConsumer(_PushConsumer):
    """One bot's page: after bot, order or fill pushes it also sends the ladder and PnL."""

    async def connect(self) -> None:
        if not await self.join_bot():
            return
        try:
            snapshot = await database_sync_to_async(snapshots.bot_snapshot)(self.bot_id)
        except GridBot.DoesNotExist:
            await self.refuse_not_found()
            return
        await self.accept()
        self.watch_access()
        await self.send_json({"kind": "snapshot", "data": snapshot})

    def catch_up(self) -> list[dict[str, Any]]:
        try:
            return [{"kind": "snapshot", "data": snapshots.bot_snapshot(self.bot_id)}]
        except GridBot.DoesNotExist:
            return []  # deleted meanwhile: the page keeps what it has

    def stale_after(self, kind: str, data: dict[str, Any]) -> set[tuple[str, int]]:
        if kind == "bot" and "pnl" in data:
            return set()  # a runner's mark push carries its PnL: nothing to recompute
        return {("bot", self.bot_id)} if kind in {"bot", "order", "fill"} else set()

    def recompute(self, stale: set[tuple[str, int]]) -> list[dict[str, Any]]:
        refreshed = snapshots.bot_refresh(self.bot_id)
        if refreshed is None:
            return []
        return [
            {"kind": "ladder", "data": refreshed["ladder"]},
            {"kind": "pnl", "data": refreshed["pnl"]},
        ]


class HedgeConsumer(_PushConsumer):
    """One hedge bot's page: its figures (`bots.hedge_selectors.hedge_live`: both legs with the
    bot's own positions, the net, the state, the events) at connect, after the pushes of its
    runner (coalesced) and every HEDGE_RECHECK_S (the accounts' checks, the state's age)."""

    forwards = False

    async def connect(self) -> None:
        if not await self.join_bot():
            return
        live = await database_sync_to_async(snapshots.hedge_snapshot)(self.bot_id)
        if live is None:
            await self.refuse_not_found()
            return
        await self.accept()
        self.watch_access()
        await self.send_json({"kind": "hedge", "data": live})
        self._recheck = asyncio.get_running_loop().create_task(self._recheck_often())

    async def _recheck_often(self) -> None:
        while True:
            await asyncio.sleep(HEDGE_RECHECK_S)
            self._stale.add(("hedge", self.bot_id))
            if self._refresh is None:
                self._refresh = asyncio.get_running_loop().create_task(self._refresh_later())

    def stale_after(self, kind: str, data: dict[str, Any]) -> set[tuple[str, int]]:
        watched = {"bot", "hedge_changed", "order", "fill", "event"}
        return {("hedge", self.bot_id)} if kind in watched else set()

    def recompute(self, stale: set[tuple[str, int]]) -> list[dict[str, Any]]:
        live = snapshots.hedge_snapshot(self.bot_id)
        return [] if live is None else [{"kind": "hedge", "data": live}]

    def catch_up(self) -> list[dict[str, Any]]:
        return self.recompute({("hedge", self.bot_id)})

    async def disconnect(self, code: int) -> None:
        recheck = getattr(self, "_recheck", None)
        if recheck is not None:
            recheck.cancel()
        await super().disconnect(code)
