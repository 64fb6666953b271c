"""The session log written by the logged core itself (no runner: the core driven by hand) and
the grid bot admin's "Replay session" action over it: a clean replay, and a tampered record
(what a changed core looks like from the other side) reported as the first difference."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from bots.backtest import replay
from bots.engine import session_log
from bots.engine.session_log import LoggedGridStrategy
from bots.history.tasks import pnl_snapshot_task
from bots.models import GridBot, SessionChunk
from bots.strategies.grid import LiveOrder, MarketView, Side
from bots.strategies.protocol import BookChanged, Decide, Filled, Leg, OwnPosition, Place
from tests.lighterweb.factories import make_account, make_bot, make_market

pytestmark = pytest.mark.django_db


def record_session(bot: GridBot) -> LoggedGridStrategy:
    """A start, the initial grid, a quiet book tick, the sell at level 1 filling and its
    replenish, each burst written as the runner writes it."""
    leg = Leg(bot.account_id, bot.market_id)
    core = LoggedGridStrategy(leg, bot.grid_config())
    core.on_event(OwnPosition(leg, D(0)))  # unchanged: not stored
    core.start(D("4000"), None, None)
    placed = core.on_event(Decide(leg, MarketView(D("3999.5"), D("4000.5"), D("4000")), []))
    working = [
        LiveOrder(i.order.level, i.order.side, i.order.price, i.order.size_base, 100 + n, "open")
        for n, i in enumerate(placed)
        if isinstance(i, Place)
    ]
    session_log.write(bot, core.log.take())
    core.on_event(BookChanged(leg))  # the book was fresh: not stored
    quiet = core.on_event(Decide(leg, MarketView(D("4000.5"), D("4001.5"), D("4001")), working))
    assert quiet == [] and core.log.entries == [] and core.log.quiet == 1
    sell = next(o for o in working if o.level == 1)
    core.on_event(Filled(leg, Side.SELL, sell.size_base, 1, sell.client_order_index, sell.price))
    core.on_event(BookChanged(leg))  # stale after the fill: stored
    working.remove(sell)
    view = MarketView(D("4009.5"), D("4010.5"), D("4010"))
    assert core.on_event(Decide(leg, view, working)), "the replenish"
    session_log.write(bot, core.log.take())
    return core


@pytest.fixture
def bot() -> GridBot:
    return make_bot(make_account(), make_market())


def test_the_logged_core_stores_only_what_changes_it_and_replays_clean(bot) -> None:
    record_session(bot)
    chunks = list(SessionChunk.objects.filter(bot=bot).order_by("id"))
    assert [c.count for c in chunks] == [3, 3]
    assert chunks[0].config is not None and chunks[1].config is None
    assert chunks[1].state == {"anchor": "4000.00", "centre": 0, "pos": "0", "fresh": True}
    kinds = [json.loads(line)[0] for c in chunks for line in c.entries.splitlines()]
    assert kinds == ["open", "start", "decide", "fill", "book", "decide"]
    last = json.loads(chunks[1].entries.splitlines()[-1])
    assert last[7] == 1, "the quiet decision before it is counted"
    report = replay.replay(bot)
    assert report.summary == "0 differences in 5 events (2 decisions compared)"
    # From the second chunk on: its stored state is where the core starts.
    report = replay.replay(bot, chunks[1].first_ms)
    assert report.summary == "0 differences in 3 events (1 decisions compared)"


def test_admin_replay_action_clean_then_a_tampered_decision(admin_client, bot) -> None:
    record_session(bot)
    changelist = reverse("admin:bots_gridbot_changelist")
    response = admin_client.post(
        changelist, {"action": "replay_action", "_selected_action": [bot.pk]}, follow=True
    )
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert f"{bot.name}: 0 differences in 5 events (2 decisions compared)" in texts

    # The live core of the record placed its replenish buy at 4000.00; pretend it said 4001.00.
    chunk = SessionChunk.objects.filter(bot=bot).order_by("id").last()
    assert chunk is not None
    lines = chunk.entries.splitlines()
    decide = json.loads(lines[-1])
    place = next(i for i in decide[6] if i[0] == "P" and i[2] == "buy")
    place[3] = "4001.00"
    chunk.entries = "\n".join([*lines[:-1], json.dumps(decide)])
    chunk.save()
    response = admin_client.post(
        changelist, {"action": "replay_action", "_selected_action": [bot.pk]}, follow=True
    )
    page = response.content.decode()
    assert "1 differences in 5 events (2 decisions compared)" in page
    assert "first difference: event 5, decision 2" in page
    assert "fill: sell 0.0100 @ 4010.00 (level 1, order 101)" in page
    assert "core state before it: anchor 4000.00, centre 1 (4010.00), position -0.0100" in page
    assert "expected (live):  cancel 108; place buy L0 0.0100 @ 4001.00;" in page
    assert "got (replay):     cancel 108; place buy L0 0.0100 @ 4000.00;" in page


def _chunk(bot: GridBot, t: int) -> None:
    SessionChunk.objects.create(
        bot=bot, first_ms=t, last_ms=t, count=1, state={}, entries=f'["book",{t}]'
    )


def test_prune_keeps_recent_chunks_and_the_newest_per_bot(bot, monkeypatch) -> None:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    old = int((now - timedelta(days=session_log.KEEP_DAYS, minutes=1)).timestamp() * 1000)
    recent = int(now.timestamp() * 1000)
    for t in (old, recent - 2, recent - 1, recent):
        _chunk(bot, t)
    assert session_log.prune(now) == 1
    times = sorted(SessionChunk.objects.values_list("first_ms", flat=True))
    assert times == [recent - 2, recent - 1, recent]
    monkeypatch.setattr(session_log, "KEEP_CHUNKS", 2)
    assert session_log.prune(now) == 1
    assert sorted(SessionChunk.objects.values_list("first_ms", flat=True)) == [recent - 1, recent]


def test_the_minute_beat_task_prunes_session_logs(bot) -> None:
    _chunk(bot, 1_000)  # 1970: long past retention
    recent = int(datetime.now(UTC).timestamp() * 1000)
    _chunk(bot, recent)
    pnl_snapshot_task()
    assert list(SessionChunk.objects.values_list("first_ms", flat=True)) == [recent]
