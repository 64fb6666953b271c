"""The beat supervisor's decisions, with explicit time and a real Redis for the leases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bots.engine.leases import BotLease
from bots.engine.supervisor import (
    CRASH_WINDOW,
    MAX_RESTARTS,
    RESTART_REQUEUE_AFTER,
    bots_supervise,
)
from bots.models import GridBot
from tests.lighterweb.factories import make_account, make_bot, make_market

pytestmark = pytest.mark.django_db

LONG_AGO = timedelta(minutes=5)


class Enqueued:
    """Collects what the supervisor asked to enqueue (the Celery boundary)."""

    def __init__(self) -> None:
        self.runs: list[int] = []
        self.cancels: list[tuple[int, str]] = []

    def run(self, bot_id: int) -> None:
        self.runs.append(bot_id)

    def cancel(self, bot_id: int, reason: str) -> None:
        self.cancels.append((bot_id, reason))


@pytest.fixture
def enqueued() -> Enqueued:
    return Enqueued()


def _bot(**state) -> GridBot:
    market = make_market(market_id=GridBot.objects.count())
    bot = make_bot(make_account(), market)
    GridBot.objects.filter(pk=bot.pk).update(**state)
    bot.refresh_from_db()
    return bot


def _supervise(redis_client, enqueued, now=None):
    return bots_supervise(
        redis_client,
        now=now or timezone.now(),
        enqueue_run=enqueued.run,
        enqueue_cancel=enqueued.cancel,
    )


def _runner_took_it_and_died(bot: GridBot, at) -> None:
    """A runner claimed the restarted bot (its fence claim writes the heartbeat), then died."""
    GridBot.objects.filter(pk=bot.pk).update(heartbeat_at=at)


def test_a_running_bot_without_a_lease_and_a_stale_heartbeat_is_restarted(redis_client, enqueued):
    bot = _bot(desired_state="running", status="running", heartbeat_at=timezone.now() - LONG_AGO)

    report = _supervise(redis_client, enqueued)

    assert report.restarted == [bot.pk] and enqueued.runs == [bot.pk]
    bot.refresh_from_db()
    assert bot.crash_count == 1
    assert bot.events.filter(kind="restart").exists()


def test_a_paused_bot_whose_runner_died_is_restarted_too(redis_client, enqueued):
    bot = _bot(desired_state="paused", status="paused", heartbeat_at=timezone.now() - LONG_AGO)

    _supervise(redis_client, enqueued)

    assert enqueued.runs == [bot.pk]


def test_a_bot_whose_runner_holds_the_lease_is_left_alone(redis_client, enqueued):
    bot = _bot(desired_state="running", status="running", heartbeat_at=timezone.now() - LONG_AGO)
    BotLease(redis_client, bot.pk).acquire()

    report = _supervise(redis_client, enqueued)

    assert report.restarted == [] and enqueued.runs == []


def test_a_just_started_bot_gets_time_to_show_up(redis_client, enqueued):
    _bot(desired_state="running", status="starting", started_at=timezone.now())

    _supervise(redis_client, enqueued)

    assert enqueued.runs == []


def test_a_restart_is_not_repeated_while_the_new_runner_starts(redis_client, enqueued):
    _bot(desired_state="running", status="running", heartbeat_at=timezone.now() - LONG_AGO)
    now = timezone.now()
    _supervise(redis_client, enqueued, now)

    _supervise(redis_client, enqueued, now + timedelta(seconds=5))

    assert len(enqueued.runs) == 1


def test_stopped_and_error_bots_are_not_restarted(redis_client, enqueued):
    _bot(desired_state="stopped", status="stopped")
    _bot(desired_state="running", status="error", heartbeat_at=timezone.now() - LONG_AGO)

    _supervise(redis_client, enqueued)

    assert enqueued.runs == []


def test_a_crash_loop_marks_the_bot_error_with_the_reason_instead_of_restarting(
    redis_client, enqueued
):
    bot = _bot(desired_state="running", status="running", heartbeat_at=timezone.now() - LONG_AGO)
    now = timezone.now()
    for restart in range(MAX_RESTARTS + 1):
        at = now + restart * timedelta(minutes=1)
        _supervise(redis_client, enqueued, at)
        _runner_took_it_and_died(bot, at + timedelta(seconds=1))

    assert len(enqueued.runs) == MAX_RESTARTS
    bot.refresh_from_db()
    assert bot.status == "error"
    assert "crash loop" in bot.status_message
    assert bot.events.filter(kind="crash_loop", level="error").exists()
    _supervise(redis_client, enqueued, now + timedelta(minutes=9))
    assert len(enqueued.runs) == MAX_RESTARTS


def test_restarts_spread_over_more_than_the_window_are_not_a_crash_loop(redis_client, enqueued):
    bot = _bot(desired_state="running", status="running", heartbeat_at=timezone.now() - LONG_AGO)
    now = timezone.now()
    for restart in range(MAX_RESTARTS + 2):
        at = now + restart * (CRASH_WINDOW + timedelta(minutes=1))
        _supervise(redis_client, enqueued, at)
        _runner_took_it_and_died(bot, at + timedelta(seconds=1))

    assert len(enqueued.runs) == MAX_RESTARTS + 2
    bot.refresh_from_db()
    assert bot.status == "running"
    assert bot.crash_count == 1


def test_a_stop_left_unfinished_by_a_dead_runner_gets_one_cancel_task(redis_client, enqueued):
    bot = _bot(desired_state="stopped", status="stopping")

    _supervise(redis_client, enqueued)
    _supervise(redis_client, enqueued)

    assert [bot_id for bot_id, _ in enqueued.cancels] == [bot.pk]


def test_a_pending_cancel_all_without_a_runner_gets_a_cancel_task(redis_client, enqueued):
    bot = _bot(
        desired_state="paused",
        status="paused",
        cancel_all_requested_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )

    _supervise(redis_client, enqueued)

    assert [bot_id for bot_id, _ in enqueued.cancels] == [bot.pk]


def test_a_live_runner_finishes_its_own_stop(redis_client, enqueued):
    bot = _bot(desired_state="stopped", status="stopping")
    BotLease(redis_client, bot.pk).acquire()

    _supervise(redis_client, enqueued)

    assert enqueued.cancels == []


def test_a_bots_worker_dead_for_two_minutes_is_no_crash_loop(redis_client, enqueued):
    bot = _bot(desired_state="running", status="running", heartbeat_at=timezone.now() - LONG_AGO)
    now = timezone.now()

    # Beat runs every 5 s for two minutes while no bots worker takes the queued restart.
    for tick in range(0, 121, 5):
        _supervise(redis_client, enqueued, now + timedelta(seconds=tick))

    bot.refresh_from_db()
    assert bot.status == "running" and bot.crash_count == 1
    assert not bot.events.filter(kind="crash_loop").exists()
    assert enqueued.runs == [bot.pk], "one restart waits in the queue; none piled up"
    # The worker returns and its runner takes the queued restart: the bot resumes.
    _runner_took_it_and_died(bot, now + timedelta(seconds=125))
    GridBot.objects.filter(pk=bot.pk).update(status="running")
    BotLease(redis_client, bot.pk).acquire()
    assert _supervise(redis_client, enqueued, now + timedelta(seconds=130)).errored == []


def test_a_restart_no_worker_took_for_long_is_queued_again_without_counting(redis_client, enqueued):
    bot = _bot(desired_state="running", status="running", heartbeat_at=timezone.now() - LONG_AGO)
    now = timezone.now()
    _supervise(redis_client, enqueued, now)

    _supervise(redis_client, enqueued, now + RESTART_REQUEUE_AFTER + timedelta(seconds=1))

    assert enqueued.runs == [bot.pk, bot.pk]
    bot.refresh_from_db()
    assert bot.crash_count == 1 and bot.status == "running"
