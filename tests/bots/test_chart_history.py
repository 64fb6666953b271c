"""The charts' history (issue 15): candles of a bot's market through our cached read of the
venue's candlesticks (the simulator as the venue), and PnL snapshots written by their beat task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from bots import selectors
from bots.history import snapshots
from bots.history.tasks import pnl_snapshot_task
from bots.models import GridBot, PnlSnapshot
from tests.bots.api_helpers import make_fill, make_user
from tests.lighterweb.factories import make_account, make_bot, make_market

ETH = 0


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url, redis_client) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = redis_url
    for key in redis_client.scan_iter("lighterweb:candles:*"):
        redis_client.delete(key)


def _viewer() -> Client:
    client = Client()
    client.force_login(make_user("chart-viewer", role="viewer"))
    return client


@pytest.mark.django_db
def test_a_bad_resolution_is_a_422_naming_the_field() -> None:
    bot = make_bot(make_account(), make_market())
    answer = _viewer().get(f"/api/bots/{bot.pk}/candles?resolution=2m")
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["resolution"]


@pytest.mark.django_db
def test_the_beat_task_snapshots_running_bots_once_a_minute_with_the_pages_figures() -> None:
    account = make_account()
    market = make_market()
    running = make_bot(account, market, name="running")
    stopped = make_bot(account, market, name="stopped")
    GridBot.objects.filter(pk=running.pk).update(status="running", last_price=Decimal("4010"))
    make_fill(running, 1, price=Decimal("3990"), fee=Decimal("0.02"))
    make_fill(stopped, 2)

    assert pnl_snapshot_task() == 1
    assert pnl_snapshot_task() == 0  # the same minute: no second row
    row = PnlSnapshot.objects.get()
    running.refresh_from_db()
    books = selectors.bot_pnl(running).summary
    assert (row.bot_id, row.mark, row.position) == (running.pk, Decimal("4010"), Decimal("0.01"))
    assert (row.total, row.inventory, row.fees) == (books.total, books.unrealized, books.fees)
    assert row.inventory == Decimal("0.2") and row.total == Decimal("0.18")
    assert row.time.second == 0


@pytest.mark.django_db
def test_the_account_series_sums_its_bots_and_carries_a_stopped_bots_last_figures() -> None:
    account, market = make_account(), make_market()
    a, b = make_bot(account, market, name="a"), make_bot(account, market, name="b")
    t0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)

    def snap(bot: GridBot, minutes: int, total: str) -> None:
        PnlSnapshot.objects.create(
            bot=bot, time=t0 + timedelta(minutes=minutes), total=Decimal(total),
            realized=0, inventory=0, fees=0, funding=0, position=0,
        )  # fmt: skip

    snap(a, 0, "1")
    snap(b, 0, "2")
    snap(a, 1, "3")  # b stopped after minute 0: its 2 still counts
    series = snapshots.account_series(account.pk, since=t0)
    assert [(p.time.minute, p.total) for p in series] == [(0, Decimal(3)), (1, Decimal(5))]
    # The totals alone (the account's drawdown reads them) are the series' totals.
    assert snapshots.account_totals(account.pk, since=t0) == [p.total for p in series]
    answer = _viewer().get(f"/api/accounts/{account.pk}/pnl-history?since=2026-12-05T12:00:00")
    assert answer.status_code == 200, answer.content
    assert [Decimal(p["total"]) for p in answer.json()] == [Decimal(3), Decimal(5)]


@pytest.mark.django_db
def test_old_snapshots_are_thinned_to_one_an_hour_then_deleted() -> None:
    bot = make_bot(make_account(), make_market())
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    ages = [timedelta(minutes=m) for m in range(0, 5)]  # recent: kept whole
    ages += [timedelta(days=3, minutes=m) for m in range(0, 90)]  # 3 days old: 10:31 to 12:00
    ages += [timedelta(days=snapshots.KEEP_DAYS + 1)]  # past the keep: gone
    for age in ages:
        PnlSnapshot.objects.create(
            bot=bot, time=now - age, total=0, realized=0, inventory=0, fees=0, funding=0,
            position=0,
        )  # fmt: skip
    snapshots.prune(now)
    times = list(PnlSnapshot.objects.order_by("time").values_list("time", flat=True))
    old = [t for t in times if t < now - timedelta(days=2)]
    assert len(times) == 5 + len(old)
    hours = [t.replace(minute=0) for t in old]
    assert len(set(hours)) == len(hours) == 3
    assert min(times) > now - timedelta(days=snapshots.KEEP_DAYS)


def test_beat_schedules_the_snapshot_on_the_default_queue() -> None:
    from lighterweb.celery import app

    app.loader.import_default_modules()
    entries = {e["task"]: e for e in app.conf.beat_schedule.values()}
    assert entries["bots.history.tasks.pnl_snapshot_task"]["schedule"] == 60.0
    assert "bots.history.tasks.pnl_snapshot_task" in app.tasks
    assert "bots.history.tasks.pnl_snapshot_task" not in app.conf.task_routes
