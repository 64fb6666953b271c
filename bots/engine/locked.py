"""A bot whose account key is locked waits in `locked` until a bots worker receives the key.

Accounts in the "remember, locked" and "don't remember" key modes can be signed for only once an
operator unlocked them and the key reached this worker (`bots.engine.key_handoff`). Until then
the runner holds its lease, writes its heartbeat and watches the operator (a stop ends it), but
opens no exchange client and sends nothing; the bot shows `locked` with the reason. When the key
arrives the runner starts as usual (recovery adopts what rests). A bot with several legs (the
hedge bot's maker A and taker B) waits until the key of every leg's account has arrived.

Locking the account again while the bot runs (`KeyLocked`): the runner cancels its orders
(verified) with the key it still holds, then drops the client and waits in `locked` again. A
trader who locks an account wants nothing more to happen under that key, and resting orders no
one manages could fill into an unmanaged position; the dead-man's switch stays armed as a second
line in case the cancel fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Protocol

from django.utils import timezone

from bots.engine import key_handoff, recording
from bots.engine.commands import Shutdown
from bots.engine.controls import LOCKED_STOP_MESSAGE
from bots.engine.db_thread import db
from bots.engine.leases import Lease
from bots.engine.recording import LeaseLost
from bots.models import Bot, BotStatus, DesiredState, EventLevel, ExchangeAccount, KeyMode
from exchange.errors import ExchangeError, TransientError


class BotRunner(Protocol):
    """What this module uses of a runner (`bots.engine.runner.BotRunner`, any kind)."""

    @property
    def bot(self) -> Bot: ...

    @property
    def lease(self) -> Lease | None: ...

    @property
    def accounts(self) -> list[ExchangeAccount]: ...

    @property
    def events(self) -> asyncio.Queue[Any]: ...

    async def update(self, **fields: Any) -> None: ...

    async def event(
        self, kind: str, message: str, level: str = EventLevel.INFO, **data: Any
    ) -> None: ...

    async def stop_orders(self, reason: str) -> None: ...

    async def shut_down(self) -> str: ...


logger = logging.getLogger(__name__)

# How often a waiting runner looks for the key (the worker's poller fetches it every second).
KEY_WAIT_POLL_S = 0.5
HEARTBEAT_SECONDS = 5.0
WAITING_MESSAGE = "waiting for an operator to unlock the account's API key ({mode})"


class KeyLocked(Exception):
    """The account's key was locked again while the bot ran."""


def _handed_off(runner: BotRunner) -> list[ExchangeAccount]:
    """The runner's accounts (every leg's) whose key must be handed to this worker."""
    return [account for account in runner.accounts if account.key_mode != KeyMode.REMEMBER]


def needs_handoff(runner: BotRunner) -> bool:
    return bool(_handed_off(runner))


async def _missing(runner: BotRunner) -> ExchangeAccount | None:
    """The first of the runner's accounts whose key this worker does not hold (None: all)."""
    for account in _handed_off(runner):
        if not await asyncio.to_thread(key_handoff.worker_holds, account.pk):
            return account
    return None


async def _holds(runner: BotRunner) -> bool:
    return await _missing(runner) is None


async def until_unlocked(runner: BotRunner) -> str | None:
    """Wait in `locked` until this worker holds the account's key: None to run, or a final
    status (stopped by the operator meanwhile, or the worker shutting down)."""
    if not needs_handoff(runner):
        return None
    account = await _missing(runner)
    if account is None:
        return None
    message = WAITING_MESSAGE.format(mode=account.get_key_mode_display())
    logger.info("bot %s: %s", runner.bot.pk, message)
    await runner.update(status=BotStatus.LOCKED, status_message=message[:500])
    await runner.event("key_locked", message, EventLevel.WARNING)
    next_heartbeat = 0.0
    while True:
        now = time.monotonic()
        if now >= next_heartbeat:
            next_heartbeat = now + HEARTBEAT_SECONDS
            if runner.lease is not None and not await runner.lease.arenew():
                raise LeaseLost(f"bot {runner.bot.pk}: lease renewal refused")
            await runner.update(heartbeat_at=timezone.now())
        desired, _ = await db(recording.desired_state_get, writes=False)(runner.bot.pk)
        if desired == DesiredState.STOPPED:
            # No key, so no cancels: resting orders are left to the dead-man's switch.
            reason = LOCKED_STOP_MESSAGE
            await runner.update(
                status=BotStatus.STOPPED, status_message=reason, stopped_at=timezone.now()
            )
            await runner.event("stopped", reason, EventLevel.WARNING)
            return BotStatus.STOPPED
        if await _holds(runner):
            await runner.event(
                "key_unlocked", "the account's key reached this bots worker; starting"
            )
            return None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(KEY_WAIT_POLL_S):
                if isinstance(await runner.events.get(), Shutdown):
                    return await runner.shut_down()


async def check_still_unlocked(runner: BotRunner) -> None:
    """Called with every control read of a running bot: when its key was locked again, cancel
    the bot's orders (verified) and raise KeyLocked (the runner then waits in `locked`)."""
    if not needs_handoff(runner) or await _holds(runner):
        return
    reason = "the account's key was locked again by an operator"
    try:
        await runner.stop_orders(reason)
        note = "orders cancelled (verified); waiting for an unlock"
    except (ExchangeError, TransientError) as exc:
        note = f"orders could not be cancelled ({exc}); left to the dead-man's switch"
    await runner.event("key_locked", f"{reason}: {note}", EventLevel.WARNING)
    raise KeyLocked(reason)
