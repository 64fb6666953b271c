"""Thin Celery tasks: the bot loop under its lease, the supervisor, cancels, the dead-man's switch.

`run_bot_task` is routed to the `bots` queue (CELERY_TASK_ROUTES), served by a threads-pool
worker (the Go signer breaks across fork, design decision 7), and is acknowledged on receipt,
never late (decision 4): a redelivery could start a second copy, and the lease would refuse it
anyway. Everything else runs on the default queue.
"""

from __future__ import annotations

import asyncio
import logging

import redis
from celery import shared_task
from django.conf import settings
from django.utils import timezone

from bots import accounts, admin_jobs
from bots.engine import controls, deadman, supervisor
from bots.engine.leases import (
    BotLease,
    fence_claim,
    fence_floor,
    lease_ttl_seconds,
    resume_later,
    resume_take,
)
from bots.models import Bot, BotStatus, DesiredState
from exchange.redis_clients import redis_client

logger = logging.getLogger(__name__)


def _redis() -> redis.Redis:
    return redis_client(settings.REDIS_URL)


@shared_task(name="bots.tasks.run_bot_task", acks_late=False, ignore_result=True)  # type: ignore[untyped-decorator]
def run_bot_task(bot_id: int) -> str:
    """Hold the bot's lease and run its loop until it stops; "busy" if another runner holds it."""
    client = _redis()
    lease = BotLease(client, bot_id, ttl_s=lease_ttl_seconds())
    try:
        fence = lease.acquire(floor=fence_floor(bot_id))
        if fence is None:
            logger.info("bot %s: another runner holds the lease; exiting", bot_id)
            return "busy"
        if not fence_claim(bot_id, fence):
            logger.warning("bot %s: fence %s is older than the bot's; exiting", bot_id, fence)
            return "outfenced"
        # Re-read under the lease: the bot may have changed while this task waited in the queue.
        state = Bot.objects.filter(pk=bot_id).values_list("desired_state", "status").first()
        if state is None or state[0] == DesiredState.STOPPED:
            # Stopped while this task waited in the queue: the stop already cleaned up.
            return "stopped"
        if state[1] == BotStatus.ERROR:
            # Marked error meanwhile (a crash loop, a failed runner): only an operator's start
            # (which sets it starting) runs it again, never a restart queued before the error.
            logger.warning("bot %s: in error since this task was queued; not started", bot_id)
            return BotStatus.ERROR
        # Imports the SDK: only in the worker.
        from bots.engine.runner import SHUTDOWN, run_bot

        # One runner for every kind: `run_bot` builds it with the bot's strategy and legs.
        outcome = asyncio.run(run_bot(bot_id, fence=fence, lease=lease))
        if outcome == SHUTDOWN:
            # The worker is going away: the next worker to start runs the bot at once, without
            # waiting for an expired lease or the supervisor (which leaves it alone meanwhile).
            resume_later(client, bot_id)
    finally:
        lease.release()
        client.close()
    return outcome


@shared_task(name="bots.tasks.supervise_bots_task", ignore_result=True)  # type: ignore[untyped-decorator]
def supervise_bots_task() -> dict[str, list[int]]:
    """Beat: restart bots whose runner died, stop crash loops, finish orphaned stops."""
    client = _redis()
    try:
        report = supervisor.bots_supervise(
            client,
            now=timezone.now(),
            enqueue_run=run_bot_task.delay,
            enqueue_cancel=bot_orders_cancel_task.delay,
        )
    finally:
        client.close()
    return {"restarted": report.restarted, "errored": report.errored, "cancels": report.cancels}


@shared_task(name="bots.tasks.bot_orders_cancel_task", ignore_result=True)  # type: ignore[untyped-decorator]
def bot_orders_cancel_task(bot_id: int, reason: str) -> str:
    """Cancel a bot's orders (verified) when no runner is alive to do it."""
    return controls.bot_orders_cancel_offline(bot_id, reason=reason)


@shared_task(name="bots.tasks.deadman_sync_task", ignore_result=True)  # type: ignore[untyped-decorator]
def deadman_sync_task() -> dict[int, str]:
    """Beat: keep each account's dead-man's switch armed while its bots live, abort after."""
    return deadman.deadman_sync_all()


@shared_task(name="bots.tasks.accounts_refresh_task", ignore_result=True)  # type: ignore[untyped-decorator]
def accounts_refresh_task() -> dict[int, str]:
    """Beat: balances and positions of accounts with active bots, for the dashboard."""
    return accounts.accounts_refresh_active()


@shared_task(name="bots.tasks.resume_bots_task", ignore_result=True)  # type: ignore[untyped-decorator]
def resume_bots_task() -> list[int]:
    """A worker started (sent on `worker_ready`): queue the bots a worker shutdown ended."""
    client = _redis()
    try:
        waiting = resume_take(client)
    finally:
        client.close()
    for bot_id in waiting:
        run_bot_task.delay(bot_id)
    if waiting:
        logger.info("resuming bots %s after a worker shutdown", waiting)
    return waiting


@shared_task(name="bots.tasks.admin_account_job_task", ignore_result=True)  # type: ignore[untyped-decorator]
def admin_account_job_task(job_id: str) -> str:
    """An admin action on an account that talks to the exchange (bots.admin_jobs), off the
    page's request: its state and result sentence go to Redis for the page to show."""
    job = admin_jobs.job_run(job_id)
    return "unknown" if job is None else job.state
