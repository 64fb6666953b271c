"""Thin Celery tasks of the alerts, all on the default queue (never the bots queue).

A message is one `notify_send_task` per channel, so a failing or slow channel retries on its own
(doubling backoff, bounded: `sender.retry_delay_s`) and never holds up another channel's
message. An HTTP attempt is bounded by a timeout (`bots.notify.http.TIMEOUT_SECONDS`).
Retries are countdown tasks: acknowledged on receipt like every task here (design decision 4),
so a worker restart may drop a pending retry; the channel stays marked failing until a message
gets through.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task

from bots.notify import sender, summary
from bots.notify.http import DeliveryFailed
from bots.notify.messages import Notification

logger = logging.getLogger(__name__)


@shared_task(name="bots.notify.tasks.notify_event_task", ignore_result=True)  # type: ignore[untyped-decorator]
def notify_event_task(event_id: int) -> int:
    """A committed BotEvent that some channel wants: send or park it per channel."""
    client = sender.redis_client()
    try:
        plan = sender.event_plan(client, event_id)
    finally:
        client.close()
    _send_all(plan.send_now)
    return len(plan.send_now)


@shared_task(  # type: ignore[untyped-decorator]
    bind=True,
    name="bots.notify.tasks.notify_send_task",
    max_retries=sender.SEND_RETRIES,
    ignore_result=True,
)
def notify_send_task(self: Task, channel_id: int, notification: dict[str, object]) -> str:
    """Send one message to one channel, retrying transient failures with backoff."""
    client = sender.redis_client()
    try:
        return sender.deliver(client, channel_id, Notification.from_dict(notification))
    except DeliveryFailed as exc:
        retries = int(self.request.retries or 0)
        if not exc.transient or retries >= sender.SEND_RETRIES:
            logger.warning(
                "channel %s: giving up on a message after %d tries", channel_id, retries + 1
            )
            return "failed"
        raise self.retry(exc=exc, countdown=sender.retry_delay_s(retries)) from None
    finally:
        client.close()


@shared_task(name="bots.notify.tasks.notify_flush_task", ignore_result=True)  # type: ignore[untyped-decorator]
def notify_flush_task() -> int:
    """Beat: send the coalesced bursts whose window has closed."""
    client = sender.redis_client()
    try:
        due = sender.coalesced_due(client)
    finally:
        client.close()
    _send_all(due)
    return len(due)


@shared_task(name="bots.notify.tasks.notify_daily_summary_task", ignore_result=True)  # type: ignore[untyped-decorator]
def notify_daily_summary_task() -> int:
    """Beat: each channel's daily account summaries, once a day at its hour."""
    client = sender.redis_client()
    try:
        due = summary.daily_summaries_due(client)
    finally:
        client.close()
    _send_all(due)
    return len(due)


@shared_task(name="bots.notify.tasks.notify_budget_check_task", ignore_result=True)  # type: ignore[untyped-decorator]
def notify_budget_check_task() -> int:
    """Beat: warn when an L1 address has spent more than 80 % of its request budget."""
    client = sender.redis_client()
    try:
        due = summary.budget_alerts_due(client)
    finally:
        client.close()
    _send_all(due)
    return len(due)


def _send_all(messages: list[tuple[int, Notification]]) -> None:
    for channel_id, notification in messages:
        notify_send_task.delay(channel_id, notification.as_dict())
