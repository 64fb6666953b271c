"""Live figures between moves: a running bot values its PnL at the exchange's mark price (from
the stream) and pushes the mark and PnL to the dashboard while the mark moves, with no fill and
no grid move, at most once a second (the real runner against the simulator, pushes read from the
real Redis channel layer)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.test import override_settings

from bots import selectors
from bots.dashboard import broadcast
from bots.engine.marks import MARK_PUBLISH_SECONDS, MarkBook
from bots.models import Fill, GridBot
from exchange.streams import MarkUpdate
from tests.bots.runner_support import (
    account_on,
    grid_bot,
    quiet,
    sim_open_orders,
    start_runners,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)
ETH = 0
LEVELS = 3


@pytest.fixture
def channel_layer(redis_url: str) -> Iterator[Any]:
    layers = {
        "default": {
            "BACKEND": "lighterweb.channel_layer.PushChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": "lighterweb-test:marks"},
        }
    }
    with override_settings(CHANNEL_LAYERS=layers):
        yield get_channel_layer()


class Pushes:
    """What a bot page receives, collected in the background: runner mark pushes kept apart."""

    def __init__(self, layer: Any, channel: str) -> None:
        self.layer = layer
        self.channel = channel
        self.marks: list[dict[str, Any]] = []
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        while True:
            message = await self.layer.receive(self.channel)
            items = message["items"] if message["type"] == broadcast.BATCH_TYPE else [message]
            for item in items:
                if item["kind"] == "bot" and "pnl" in item["data"]:
                    self.marks.append(item["data"])

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def page_of(layer: Any, bot: GridBot) -> AsyncIterator[Pushes]:
    channel = await layer.new_channel()
    await broadcast.join(layer, broadcast.bot_group(bot.pk), channel)  # as a page joins
    pushes = Pushes(layer, channel)
    try:
        yield pushes
    finally:
        await pushes.close()


async def _running_with_a_position(simulator, funded_account):
    index = funded_account.index
    account = await sync_to_async(account_on)(simulator, funded_account)
    bot = await sync_to_async(grid_bot)(account, "ETH", levels=LEVELS)
    (runner,), (task,) = await start_runners([bot])

    async def settled() -> bool:
        orders = sim_open_orders(simulator, index, ETH)
        return quiet(runner, simulator) and len(orders) == 2 * LEVELS

    await wait_until(settled, what="the grid resting")
    # One buy fills (3000 -> 2991 crosses the buy at 2995): the bot now holds a position.
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "2991.00"})
    simulator.advance(1000)
    await wait_until(
        lambda: _true(settled, runner.position > 0), what="a filled buy and the grid again"
    )
    return bot, runner, task


async def _true(settled, holds: bool) -> bool:
    return holds and await settled()


def _state(simulator, index: int, bot: GridBot) -> tuple[set[int], int]:
    orders = {o.client_order_index for o in sim_open_orders(simulator, index, ETH)}
    return orders, Fill.objects.filter(bot=bot).count()


async def test_a_mark_move_without_a_fill_pushes_the_new_mark_and_pnl(
    simulator, funded_account, channel_layer
):
    bot, runner, task = await _running_with_a_position(simulator, funded_account)
    before = await sync_to_async(_state)(simulator, funded_account.index, bot)
    position, cost = runner.ledger.position_base, runner.ledger.cost_quote

    async with page_of(channel_layer, bot) as page:
        simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "2996.50"})

        async def pushed() -> bool:
            return any(p["last_price"] == "2996.50" for p in page.marks)

        await wait_until(pushed, timeout_s=10, what="a push of the new mark")

    push = next(p for p in page.marks if p["last_price"] == "2996.50")
    inventory = position * Decimal("2996.50") - cost
    assert Decimal(push["pnl"]["mark_price"]) == Decimal("2996.50")
    assert Decimal(push["pnl"]["unrealized"]) == inventory != 0
    assert Decimal(push["pnl"]["total"]) == runner.ledger.summary(Decimal("2996.50")).total
    assert await sync_to_async(_state)(simulator, funded_account.index, bot) == before, (
        "no fill, no order: only the mark moved"
    )
    # What the API and page snapshots read is valued at the same mark.
    row = await sync_to_async(GridBot.objects.select_related("market").get)(pk=bot.pk)
    api = await sync_to_async(selectors.bot_pnl)(row)
    assert api.mark_price == Decimal("2996.50") and api.summary.unrealized == inventory
    task.cancel()


async def test_a_fast_moving_mark_is_pushed_at_most_once_a_second(
    simulator, funded_account, channel_layer
):
    bot, _runner, task = await _running_with_a_position(simulator, funded_account)
    moves = [Decimal("2995.50") + Decimal("0.10") * (n % 20) for n in range(40)]

    async with page_of(channel_layer, bot) as page:
        started = time.monotonic()
        for price in moves:
            simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": f"{price:.2f}"})
            await asyncio.sleep(0.05)  # the venue publishes market stats every 50 ms

        async def last_pushed() -> bool:
            return any(Decimal(p["last_price"]) == moves[-1] for p in page.marks)

        await wait_until(last_pushed, timeout_s=10, what="a push of the final mark")
        window_s = time.monotonic() - started

    count = len(page.marks)
    print(f"{len(moves)} mark moves over {window_s:.2f}s -> {count} pushes")
    assert 1 <= count <= 1 + int(window_s / MARK_PUBLISH_SECONDS), (count, window_s)
    assert count < len(moves) / 4, "throttled, not one push per mark"
    task.cancel()


def test_the_mark_book_publishes_a_changed_mark_once_per_interval() -> None:
    now = [100.0]
    book = MarkBook(interval_s=1.0, clock=lambda: now[0])

    def mark(price: str) -> None:
        book.take([MarkUpdate(ETH, Decimal(price), None, is_snapshot=False)])

    mark("10")
    first = book.due(ETH)
    mark("11")
    throttled = book.due(ETH)
    now[0] += 1.0
    after = book.due(ETH)
    unchanged = book.due(ETH)

    assert (first, throttled, after, unchanged) == (Decimal(10), None, Decimal(11), None)
    assert book.due(1) is None and book.mark(ETH) == Decimal(11)
