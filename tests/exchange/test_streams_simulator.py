"""AccountStream against the Lighter simulator: real auth tokens, real orders, real faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from lighter import SignerClient

from exchange.streams import (
    AccountStream,
    BookUpdate,
    Connected,
    Disconnected,
    FillEvent,
    MarkUpdate,
    OrderUpdate,
    Reconnected,
    Stale,
    StreamEvent,
    TxUpdate,
)
from tests.plugins.simulator import (
    RunningSimulator,
    SimAccount,
    auth_token,
    run_simulator,
    signer_client,
)

ETH = 0
BTC = 1
WAIT_S = 10.0
LIMIT = SignerClient.ORDER_TYPE_LIMIT
GTT = SignerClient.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME
IOC = SignerClient.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL


class Events:
    """Collects a stream's events in the background; tests wait for one matching a condition."""

    def __init__(self, stream: AccountStream) -> None:
        self.stream = stream
        self.seen: list[StreamEvent] = []
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._read(stream.events()))

    async def _read(self, feed: AsyncIterator[StreamEvent]) -> None:
        async for event in feed:
            async with self._changed:
                self.seen.append(event)
                self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[StreamEvent], bool], after: int = 0, timeout: float = WAIT_S
    ) -> int:
        """Index of the first event at or after `after` that satisfies `predicate`."""

        async def find() -> int:
            async with self._changed:
                while True:
                    for index in range(after, len(self.seen)):
                        if predicate(self.seen[index]):
                            return index
                    await self._changed.wait()

        return await asyncio.wait_for(find(), timeout)

    async def close(self) -> None:
        await self.stream.stop()
        await asyncio.wait_for(self._task, WAIT_S)


def of(kind: type) -> Callable[[StreamEvent], bool]:
    return lambda event: isinstance(event, kind)


def book_has_bid(stream: AccountStream, price: Decimal) -> Callable[[StreamEvent], bool]:
    def check(event: StreamEvent) -> bool:
        bids = stream.book(ETH).depth().bids
        return isinstance(event, BookUpdate) and any(level.price == price for level in bids)

    return check


@pytest.fixture
async def signer(simulator: RunningSimulator, funded_account: SimAccount) -> AsyncIterator[Any]:
    client = signer_client(simulator, funded_account)
    yield client
    await client.close()


async def open_stream(
    sim: RunningSimulator, account: SimAccount, client: Any, **options: Any
) -> Events:
    async def token() -> str:
        return auth_token(client, account)

    settings: dict[str, Any] = {"backoff_base_s": 0.05, "backoff_cap_s": 0.3, **options}
    stream = AccountStream(sim.ws_url, account.index, [ETH], token, **settings)
    await stream.start()
    return Events(stream)


async def test_stream_sees_own_order_rest_in_book_and_account(
    simulator: RunningSimulator, funded_account: SimAccount, signer: Any
) -> None:
    events = await open_stream(simulator, funded_account, signer)
    await events.wait_for(of(Connected))
    snapshot = await events.wait_for(lambda e: isinstance(e, BookUpdate) and e.is_snapshot)
    best_bid = events.stream.book(ETH).best_bid
    assert best_bid is not None
    price = best_bid - Decimal("7.77")

    _, _, err = await signer.create_order(ETH, 5, 1000, int(price * 100), False, LIMIT, GTT)
    assert err is None, err

    await events.wait_for(book_has_bid(events.stream, price), after=snapshot)
    await events.wait_for(
        lambda e: (
            isinstance(e, OrderUpdate)
            and any(o.client_order_index == 5 and o.status == "open" for o in e.orders)
        )
    )
    await events.close()


async def test_stream_reports_fill_of_a_crossing_order(
    simulator: RunningSimulator, funded_account: SimAccount, signer: Any
) -> None:
    events = await open_stream(simulator, funded_account, signer)
    await events.wait_for(lambda e: isinstance(e, BookUpdate) and e.is_snapshot)
    best_ask = events.stream.book(ETH).best_ask
    assert best_ask is not None

    _, _, err = await signer.create_order(
        ETH, 6, 1000, int(best_ask * 101), False, LIMIT, IOC, order_expiry=0
    )
    assert err is None, err

    index = await events.wait_for(
        lambda e: isinstance(e, FillEvent) and not e.is_snapshot and bool(e.fills)
    )
    fill = events.seen[index]
    assert isinstance(fill, FillEvent)
    assert fill.fills[0].client_order_index == 6
    assert fill.fills[0].size == Decimal("0.1000")
    await events.close()


async def test_a_market_stream_gets_its_markets_orders_and_no_transactions(
    simulator: RunningSimulator, funded_account: SimAccount, signer: Any
) -> None:
    # What a bot's runner opens: with several bots on one account, each would otherwise
    # receive and parse every other bot's order reports and transactions.
    everything = await open_stream(simulator, funded_account, signer)
    narrow = await open_stream(
        simulator, funded_account, signer, market_orders=True, tx_updates=False
    )
    assert narrow.stream.channels()[-2:] == [
        f"account_orders/{ETH}/{funded_account.index}",
        f"account_all/{funded_account.index}",
    ]
    await narrow.wait_for(lambda e: isinstance(e, BookUpdate) and e.is_snapshot)
    start = len(narrow.seen)

    _, _, err = await signer.create_order(BTC, 8, 100, 990_000, False, LIMIT, GTT)
    assert err is None, err
    await everything.wait_for(
        lambda e: isinstance(e, OrderUpdate) and any(o.client_order_index == 8 for o in e.orders)
    )
    await everything.wait_for(lambda e: isinstance(e, TxUpdate) and not e.is_snapshot)
    best_bid = narrow.stream.book(ETH).best_bid
    assert best_bid is not None
    price = best_bid - Decimal("7.77")
    _, _, err = await signer.create_order(ETH, 9, 1000, int(price * 100), False, LIMIT, GTT)
    assert err is None, err
    # The ETH order's report comes after the BTC order's and both transactions were sent.
    await narrow.wait_for(
        lambda e: isinstance(e, OrderUpdate) and any(o.client_order_index == 9 for o in e.orders),
        after=start,
    )

    seen = narrow.seen[start:]
    assert not any(isinstance(e, TxUpdate) for e in seen)
    reported = {o.market_id for e in seen if isinstance(e, OrderUpdate) for o in e.orders}
    assert reported == {ETH}
    await narrow.close()
    await everything.close()


async def test_stream_reports_the_mark_price_when_the_simulator_moves_it(
    simulator: RunningSimulator, funded_account: SimAccount, signer: Any
) -> None:
    events = await open_stream(simulator, funded_account, signer)
    first = await events.wait_for(lambda e: isinstance(e, MarkUpdate) and e.is_snapshot)

    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "3017.50"})

    await events.wait_for(
        lambda e: (
            isinstance(e, MarkUpdate)
            and e.market_id == ETH
            and not e.is_snapshot
            and e.mark_price == Decimal("3017.50")
        ),
        after=first,
    )
    await events.close()


async def test_dropped_websocket_resyncs_and_misses_no_book_change(
    simulator: RunningSimulator, funded_account: SimAccount, signer: Any
) -> None:
    events = await open_stream(simulator, funded_account, signer)
    await events.wait_for(lambda e: isinstance(e, BookUpdate) and e.is_snapshot)
    best_bid = events.stream.book(ETH).best_bid
    assert best_bid is not None
    price = best_bid - Decimal("3.33")

    simulator.sim("POST", "/sim/ws/drop")
    dropped = await events.wait_for(of(Disconnected))
    # placed while the client may still be away: it must show up once the book resyncs
    _, _, err = await signer.create_order(ETH, 7, 1000, int(price * 100), False, LIMIT, GTT)
    assert err is None, err
    back = await events.wait_for(of(Reconnected), after=dropped)

    await events.wait_for(book_has_bid(events.stream, price), after=back)
    assert not events.stream.book(ETH).is_stale(WAIT_S)
    await events.close()


async def test_stale_book_fault_is_reported_as_stale(
    simulator: RunningSimulator, funded_account: SimAccount, signer: Any
) -> None:
    simulator.faults({"kind": "stale_book", "target": "order_book"})
    events = await open_stream(
        simulator, funded_account, signer, stale_after_s=0.3, ping_interval_s=0.1
    )
    await events.wait_for(of(Connected))

    await events.wait_for(of(Stale))

    assert events.stream.connected
    await events.close()


@pytest.fixture
def fast_ping_simulator() -> Iterator[RunningSimulator]:
    yield from run_simulator(ping_interval_s=0.2, pong_timeout_s=0.4)


async def test_stream_answers_pings_and_recovers_from_missed_pongs(
    fast_ping_simulator: RunningSimulator,
) -> None:
    account = fast_ping_simulator.create_account()
    client = signer_client(fast_ping_simulator, account)
    events = await open_stream(fast_ping_simulator, account, client)
    await events.wait_for(of(Connected))
    # five server pings go by: an answering stream is never dropped
    with pytest.raises(TimeoutError):
        await events.wait_for(of(Disconnected), timeout=1.0)
    fast_ping_simulator.faults({"kind": "missed_pong"})

    dropped = await events.wait_for(of(Disconnected))
    fast_ping_simulator.sim("DELETE", "/sim/faults")
    await events.wait_for(of(Reconnected), after=dropped)

    await events.close()
    await client.close()
