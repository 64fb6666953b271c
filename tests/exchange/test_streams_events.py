"""Stream events: frames -> events, and every consumer of a stream sees every event in order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

from exchange.parse_ws import parse_frame
from exchange.stream_events import (
    BACKLOG_LIMIT,
    Disconnected,
    EventFanout,
    FillEvent,
    MarkUpdate,
    PositionUpdate,
    Stale,
    StreamEvent,
    TxUpdate,
    data_events,
)

# the recorded Lighter payloads (tests/fixtures/lighter)
from tests.paths import FIXTURES


async def collect(feed: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in feed]


async def test_every_consumer_gets_every_event_in_order() -> None:
    fanout = EventFanout()
    first, second = fanout.subscribe(), fanout.subscribe()
    events = [Disconnected(reason=str(n)) for n in range(5)]
    for event in events:
        fanout.publish(event)
    fanout.close()

    results = await asyncio.wait_for(asyncio.gather(collect(first), collect(second)), 5)

    assert results == [events, events]


async def test_first_consumer_receives_events_published_before_it_subscribed() -> None:
    fanout = EventFanout()
    fanout.publish(Stale(silent_s=1.0))
    feed = fanout.subscribe()
    fanout.close()

    assert await asyncio.wait_for(collect(feed), 5) == [Stale(silent_s=1.0)]


async def test_later_consumer_starts_at_its_subscription() -> None:
    fanout = EventFanout()
    early = fanout.subscribe()
    fanout.publish(Stale(silent_s=1.0))
    late = fanout.subscribe()
    fanout.publish(Stale(silent_s=2.0))
    fanout.close()

    assert await asyncio.wait_for(collect(late), 5) == [Stale(silent_s=2.0)]
    assert len(await asyncio.wait_for(collect(early), 5)) == 2


async def test_backlog_without_consumers_keeps_only_the_newest_events() -> None:
    fanout = EventFanout()
    for n in range(BACKLOG_LIMIT + 3):
        fanout.publish(Stale(silent_s=float(n)))
    feed = fanout.subscribe()
    fanout.close()

    events = await asyncio.wait_for(collect(feed), 5)

    assert len(events) == BACKLOG_LIMIT
    assert events[0] == Stale(silent_s=3.0)


async def test_consumer_subscribing_after_close_ends_at_once() -> None:
    fanout = EventFanout()
    fanout.close()
    assert await asyncio.wait_for(collect(fanout.subscribe()), 5) == []


def account_all_update(trade_id: int) -> dict[str, Any]:
    fixture = json.loads((FIXTURES / "ws_account_all_trades_update.json").read_text())
    trade = dict(fixture["trades"]["0"][0], trade_id=trade_id, bid_account_id=1234)
    return {
        "type": "update/account_all",
        "channel": "account_all:1234",
        "trades": {"0": [trade]},
        "positions": {},
    }


def test_account_all_frame_gives_positions_before_fills() -> None:
    raw = account_all_update(trade_id=42)

    events = data_events(parse_frame(raw, 1234), raw, 1234)

    assert [type(e) for e in events] == [PositionUpdate, FillEvent]
    fill = events[1]
    assert isinstance(fill, FillEvent)
    assert fill.fills[0].trade_id == 42


def test_account_tx_rows_pass_through_untouched() -> None:
    raw = {"type": "update/account_tx", "channel": "account_tx:1234", "txs": [{"hash": "ab"}]}

    [event] = data_events(parse_frame(raw, 1234), raw, 1234)

    assert event == TxUpdate(account_index=1234, txs=({"hash": "ab"},), is_snapshot=False)


def test_frames_without_trade_or_account_data_give_no_events() -> None:
    raw = {"type": "ping"}
    assert data_events(parse_frame(raw, 1234), raw, 1234) == []


def test_market_stats_frames_give_the_mark_price_of_each_market() -> None:
    single = json.loads((FIXTURES / "ws_market_stats_update_single.json").read_text())
    every = json.loads((FIXTURES / "ws_market_stats_update_all.json").read_text())

    (one,) = data_events(parse_frame(single), single, None)
    marks = data_events(parse_frame(every), every, None)

    assert one == MarkUpdate(
        market_id=0,
        mark_price=Decimal("2064.47"),
        index_price=Decimal("2064.48"),
        is_snapshot=False,
    )
    assert one in marks and all(isinstance(m, MarkUpdate) and m.mark_price > 0 for m in marks)


def test_a_market_stats_row_without_a_mark_gives_no_event() -> None:
    raw = {
        "type": "update/market_stats",
        "channel": "market_stats:0",
        "market_stats": {"symbol": "ETH", "market_id": 0, "mark_price": ""},
    }
    assert data_events(parse_frame(raw), raw, None) == []
