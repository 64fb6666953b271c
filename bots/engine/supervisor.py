"""The beat supervisor's decisions: restart bots whose runner died, stop crash loops, finish stops.

A bot "should run" when its desired state is running or paused and it is not in `error`. Its
runner is alive while it holds the bot's lease (`bots.engine.leases`); a runner that died (SIGKILL,
lost machine) loses the lease when its TTL runs out. Each restart is counted; more than
`MAX_RESTARTS` within `CRASH_WINDOW` marks the bot `error` with the reason instead of
restarting it forever. Only restarts that a runner took count: a restart still waiting in the
queue (no bots worker alive) is no crash, so a worker that is down for minutes leaves its bots to
resume when it returns instead of putting them in "crash loop" error. A bot that should be
stopped but whose runner died before finishing the stop gets its orders cancelled by a task on
the default queue.

The enqueue functions come in as arguments, so this module does not import the Celery tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db.models import Q

from bots.dashboard import broadcast
from bots.engine.leases import lease_holder, resume_waiting
from bots.engine.recording import event_create
from bots.models import Bot, BotStatus, DesiredState, EventLevel

logger = logging.getLogger(__name__)

MAX_RESTARTS = 3
CRASH_WINDOW = timedelta(minutes=10)
CANCEL_PENDING_SECONDS = 30
# A restart no runner has taken after this long may have been lost (a worker that took it and
# died before claiming the bot): queue it again, without counting it as a crash.
RESTART_REQUEUE_AFTER = timedelta(minutes=5)


def start_grace() -> timedelta:
    """How long a started (or restarted) bot may take to show up holding its lease."""
    return timedelta(seconds=float(settings.BOT_START_GRACE_SECONDS))


@dataclass
class SupervisorReport:
    """What one supervisor pass did, by bot id."""

    restarted: list[int] = field(default_factory=list)
    errored: list[int] = field(default_factory=list)
    cancels: list[int] = field(default_factory=list)


def _last_sign_of_life(bot: Bot) -> datetime | None:
    moments = [t for t in (bot.heartbeat_at, bot.started_at, bot.last_crash_at) if t is not None]
    return max(moments, default=None)


def _restart_taken(bot: Bot) -> bool:
    """Whether a runner took the bot since the supervisor's last restart (claiming the lease
    fence writes the heartbeat), or there was no restart: a crash of that runner counts."""
    if bot.last_crash_at is None:
        return True
    moments = [t for t in (bot.heartbeat_at, bot.started_at) if t is not None]
    return bool(moments) and max(moments) > bot.last_crash_at


def _event(bot: Bot, kind: str, message: str, level: str, data: dict[str, object]) -> None:
    event_create(bot, kind, message, data, level)


def bots_supervise(
    redis_client: redis.Redis,
    *,
    now: datetime,
    enqueue_run: Callable[[int], object],
    enqueue_cancel: Callable[[int, str], object],
) -> SupervisorReport:
    """One supervisor pass over every bot; enqueues restarts and cancels, returns what it did."""
    report = SupervisorReport()
    # Every kind of bot is restarted; a stop without a runner is cleaned up for grids (a hedge
    # bot's emergency stop cancels on both accounts at once, `services.bot_emergency_stop`).
    should_run = Bot.objects.exclude(desired_state=DesiredState.STOPPED).exclude(
        status=BotStatus.ERROR
    )
    for bot in should_run.select_related("market"):
        if lease_holder(redis_client, bot.pk) is not None or resume_waiting(redis_client, bot.pk):
            continue  # alive, or ended by a worker shutdown and waiting for the next worker
        last = _last_sign_of_life(bot)
        if last is not None and now - last < start_grace():
            continue
        _restart_or_give_up(bot, now, enqueue_run, report)
    unfinished = Bot.objects.filter(
        Q(desired_state=DesiredState.STOPPED, status__in=_STOPPING_STATUSES)
        | Q(cancel_all_requested_at__isnull=False)
    )
    for bot in unfinished.select_related("market"):
        if lease_holder(redis_client, bot.pk) is not None:
            continue
        # One cancel task in flight per bot, however often beat runs meanwhile.
        if redis_client.set(_cancel_pending_key(bot.pk), 1, nx=True, ex=CANCEL_PENDING_SECONDS):
            enqueue_cancel(bot.pk, "supervisor: no runner alive")
            report.cancels.append(bot.pk)
    return report


_STOPPING_STATUSES = [
    BotStatus.STARTING,
    BotStatus.RUNNING,
    BotStatus.DEGRADED,
    BotStatus.PAUSED,
    BotStatus.STOPPING,
    BotStatus.LOCKED,
]


def _cancel_pending_key(bot_id: int) -> str:
    return f"lighterweb:bot-cancel-pending:{bot_id}"


def _restart_or_give_up(
    bot: Bot,
    now: datetime,
    enqueue_run: Callable[[int], object],
    report: SupervisorReport,
) -> None:
    if not _restart_taken(bot):
        _requeue_untaken(bot, now, enqueue_run, report)
        return
    recent = bot.last_crash_at is not None and now - bot.last_crash_at < CRASH_WINDOW
    restarts = bot.crash_count + 1 if recent else 1
    changes: dict[str, object] = {"crash_count": restarts, "last_crash_at": now}
    give_up = restarts > MAX_RESTARTS
    if give_up:
        reason = (
            f"crash loop: the runner was lost {restarts} times within "
            f"{int(CRASH_WINDOW.total_seconds() // 60)} minutes; not restarting "
            "(is a bots worker running? check its log, then start the bot again)"
        )
        changes |= {"status": BotStatus.ERROR, "status_message": reason}
    # Conditional on the fence we saw: a runner that started meanwhile has a newer one.
    claimed = Bot.objects.filter(pk=bot.pk, lease_fence=bot.lease_fence).update(**changes)
    if not claimed:
        return
    if give_up:
        bot.refresh_from_db()
        broadcast.bot_changed(bot)
        _event(bot, "crash_loop", reason, EventLevel.ERROR, {"restarts": restarts})
        report.errored.append(bot.pk)
        return
    message = f"runner not alive (last sign of life {_last_sign_of_life(bot)}); restarting"
    _event(bot, "restart", message, EventLevel.WARNING, {"restarts": restarts})
    enqueue_run(bot.pk)
    report.restarted.append(bot.pk)


def _requeue_untaken(
    bot: Bot,
    now: datetime,
    enqueue_run: Callable[[int], object],
    report: SupervisorReport,
) -> None:
    """The last restart still waits for a bots worker: no crash, nothing to count. It is queued
    again only when it may have been lost, so a long outage does not pile up tasks."""
    assert bot.last_crash_at is not None  # a restart happened: `_restart_taken` said so
    waited = now - bot.last_crash_at
    if waited < RESTART_REQUEUE_AFTER:
        return
    claimed = Bot.objects.filter(pk=bot.pk, lease_fence=bot.lease_fence).update(last_crash_at=now)
    if not claimed:
        return
    message = (
        f"no bots worker took the restart queued {int(waited.total_seconds())}s ago "
        "(is a bots worker running?); queued again, not counted as a crash"
    )
    _event(bot, "restart", message, EventLevel.WARNING, {"restarts": bot.crash_count})
    enqueue_run(bot.pk)
    report.restarted.append(bot.pk)
