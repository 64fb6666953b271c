"""The process's shared market feed against the simulator: one connection per market for every
runner on it, each runner on its own thread and loop as in a bots worker, deliveries conflated
for a busy runner, the connection closed with the last runner."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from lighter import SignerClient

from exchange import market_feed
from exchange.stream_events import BookUpdate, MarkUpdate, StreamEvent
from tests.plugins.simulator import RunningSimulator, SimAccount, signer_client

ETH = 0
WAIT_S = 10.0
LIMIT = SignerClient.ORDER_TYPE_LIMIT
GTT = SignerClient.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME


class RunnerThread:
    """A thread with its own event loop, standing for one bot's runner in a worker."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.seen: list[StreamEvent] = []
        self.handles: list[market_feed.FeedHandle] = []
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on this loop and return its value."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(WAIT_S)

    def attach(self, ws_url: str) -> market_feed.FeedHandle:
        handle: market_feed.FeedHandle = self.call(
            lambda: market_feed.attach(ws_url, ETH, self.seen.append)
        )
        self.handles.append(handle)
        return handle

    def block(self, seconds: float) -> None:
        """Keep this loop busy (a runner recording a burst) for `seconds`."""
        self.loop.call_soon_threadsafe(time.sleep, seconds)

    def stop(self) -> None:
        for handle in self.handles:
            self.call(handle.close)  # a failed test must not leave its feed reconnecting
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(WAIT_S)
        self.loop.close()


@pytest.fixture
def runners() -> Iterator[list[RunnerThread]]:
    made = [RunnerThread(f"bot-test-{n}") for n in range(2)]
    yield made
    for runner in made:
        runner.stop()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def book_listeners(simulator: RunningSimulator) -> int:
    return simulator.call(lambda: len(simulator.server.hub.listeners(f"order_book:{ETH}")))


def books(seen: list[StreamEvent]) -> list[BookUpdate]:
    return [e for e in list(seen) if isinstance(e, BookUpdate)]


def test_runners_of_one_market_share_one_connection(
    simulator: RunningSimulator, runners: list[RunnerThread]
) -> None:
    first, second = runners
    one = first.attach(simulator.ws_url)
    two = second.attach(simulator.ws_url)
    wait_for(lambda: bool(books(first.seen)) and bool(books(second.seen)), "both books")
    wait_for(lambda: one.mark is not None and two.mark is not None, "the mark")
    # Marks stay with the feed (each runner reads the latest when it publishes its figures).
    assert not any(isinstance(e, MarkUpdate) for e in first.seen + second.seen)

    assert book_listeners(simulator) == 1
    assert market_feed.active().get((simulator.ws_url, ETH)) == 2
    top = one.top
    assert top is not None and top.bid is not None and top.ask is not None
    assert two.top == top

    # A price move reaches both runners, each on its own loop.
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "3111"})
    for runner in runners:
        wait_for(
            lambda runner=runner: any(
                e.top.mid is not None and abs(e.top.mid - Decimal("3111")) < 5
                for e in books(runner.seen)
            ),
            "the moved book",
        )

    first.call(one.close)
    assert market_feed.active().get((simulator.ws_url, ETH)) == 1
    assert book_listeners(simulator) == 1
    second.call(two.close)
    assert (simulator.ws_url, ETH) not in market_feed.active()
    wait_for(lambda: book_listeners(simulator) == 0, "the feed's connection closed")


def test_a_busy_runner_gets_only_the_latest_book(
    simulator: RunningSimulator, runners: list[RunnerThread]
) -> None:
    busy = runners[0]
    handle = busy.attach(simulator.ws_url)
    wait_for(lambda: bool(books(busy.seen)), "the first book")
    before = len(books(busy.seen))

    busy.block(3.0)
    price = Decimal("3050")
    # Moves while the runner is busy, until one book waiting for it was replaced by a newer one.
    while handle.conflated < 2:
        price += 10
        simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": str(price)})
        time.sleep(0.05)
    wait_for(lambda: len(books(busy.seen)) > before, "the book after the busy spell")

    # Once free again, the runner is handed the newest book at once, not the moves in between.
    first = books(busy.seen)[before].top
    assert first.mid is not None and abs(first.mid - price) < 5
    busy.call(handle.close)


def test_a_runner_that_joins_late_gets_the_book_at_once(
    simulator: RunningSimulator, runners: list[RunnerThread]
) -> None:
    first, late = runners
    one = first.attach(simulator.ws_url)
    wait_for(lambda: bool(books(first.seen)), "the first runner's book")

    two = late.attach(simulator.ws_url)

    # No change on the market: the feed's current book is handed over on attach.
    wait_for(lambda: bool(books(late.seen)), "the late runner's book")
    assert books(late.seen)[0].top == one.top
    assert book_listeners(simulator) == 1
    first.call(one.close)
    late.call(two.close)


def test_a_delta_that_moves_no_best_price_is_not_handed_on(
    simulator: RunningSimulator, funded_account: SimAccount, runners: list[RunnerThread]
) -> None:
    runner = runners[0]
    handle = runner.attach(simulator.ws_url)
    wait_for(lambda: bool(books(runner.seen)), "the first book")
    top = handle.top
    assert top is not None and top.bid is not None
    handed = len(books(runner.seen))

    # A bid far below the best: the feed's book changes, its best prices do not.
    deep = top.bid - Decimal("100")
    place_bid(simulator, funded_account, client_order_index=7, price=deep)
    wait_for(lambda: handle.top is not top, "the feed's book after the deep bid")
    assert handle.top is not None and handle.top.bid == top.bid
    time.sleep(0.3)  # a hand-over would be on the runner's loop within milliseconds
    assert len(books(runner.seen)) == handed

    # A bid above the best moves the best bid: handed on.
    better = top.bid + Decimal("0.5")
    place_bid(simulator, funded_account, client_order_index=8, price=better)
    wait_for(lambda: len(books(runner.seen)) > handed, "the book with the better bid")
    assert books(runner.seen)[-1].top.bid == better
    runner.call(handle.close)


def place_bid(
    simulator: RunningSimulator, account: SimAccount, *, client_order_index: int, price: Decimal
) -> None:
    """A resting 0.05 ETH bid at `price` through the real SDK."""

    async def place() -> None:
        signer = signer_client(simulator, account)
        try:
            _, _, err = await signer.create_order(
                ETH, client_order_index, 500, int(price * 100), False, LIMIT, GTT
            )
            assert err is None, err
        finally:
            await signer.close()

    asyncio.run(place())


def test_a_runner_is_not_handed_books_whose_mid_stays_inside_its_band(
    simulator: RunningSimulator, funded_account: SimAccount, runners: list[RunnerThread]
) -> None:
    banded, plain = runners
    quiet = banded.attach(simulator.ws_url)
    every = plain.attach(simulator.ws_url)
    wait_for(lambda: bool(books(banded.seen)) and bool(books(plain.seen)), "both books")
    top = quiet.top
    assert top is not None and top.bid is not None and top.mid is not None
    quiet.band = (top.mid - Decimal("5"), top.mid + Decimal("5"))
    handed = len(books(banded.seen)), len(books(plain.seen))

    # A better bid moves the mid by a few cents: inside the band.
    place_bid(simulator, funded_account, client_order_index=9, price=top.bid + Decimal("0.5"))
    wait_for(lambda: len(books(plain.seen)) > handed[1], "the better bid at the other runner")
    time.sleep(0.3)
    assert len(books(banded.seen)) == handed[0]

    # The market moves out of the band: handed on.
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": str(top.mid + 50)})
    wait_for(lambda: len(books(banded.seen)) > handed[0], "the moved book")
    moved = books(banded.seen)[-1].top.mid
    assert moved is not None and moved > top.mid + 5
    banded.call(quiet.close)
    plain.call(every.close)


def marks(seen: list[StreamEvent]) -> list[MarkUpdate]:
    return [e for e in list(seen) if isinstance(e, MarkUpdate)]


def test_a_mark_past_a_runners_exits_is_handed_on_while_its_book_is_frozen(
    simulator: RunningSimulator, runners: list[RunnerThread]
) -> None:
    """A runner's stop-loss judges the mark. Marks are kept by the feed, not handed on, so a
    runner whose book no longer moves (its deltas stopped, or its mid inside the quiet band)
    would never decide on one: a mark at or past one of its exits is handed on to it, and only
    to it."""
    guarded, plain = runners
    exits = guarded.attach(simulator.ws_url)
    other = plain.attach(simulator.ws_url)
    wait_for(lambda: exits.mark is not None and bool(books(guarded.seen)), "a mark and a book")
    first = exits.mark
    assert first is not None
    exits.exits = (first.mark_price - Decimal("20"), None)
    simulator.faults({"kind": "stale_book", "target": f"order_book:{ETH}"})
    handed = len(books(guarded.seen))

    # A mark above the stop-loss: kept, not handed on.
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": str(first.mark_price - 10)})
    wait_for(lambda: exits.mark is not None and exits.mark.mark_price < first.mark_price, "mark")
    time.sleep(0.3)
    assert marks(guarded.seen) == []

    # Through it: handed on to the runner with the exit; the book stays frozen.
    below = first.mark_price - 25
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": str(below)})
    wait_for(lambda: bool(marks(guarded.seen)), "the mark past the stop-loss")
    assert marks(guarded.seen)[-1].mark_price <= first.mark_price - 20
    assert len(books(guarded.seen)) == handed
    assert marks(plain.seen) == []
    simulator.faults()
    guarded.call(exits.close)
    plain.call(other.close)
