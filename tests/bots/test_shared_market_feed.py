"""Grid runners of one market in one process plan from ONE market connection (the process's
`exchange.market_feed`), while each keeps its own account stream for its orders and fills."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from exchange import market_feed
from tests.bots.runner_support import (
    GRID_SHAPES,
    account_on,
    finish,
    grid_bot,
    quiet,
    set_desired,
    sim_mid,
    sim_open_orders,
    start_runners,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)

ETH = 0


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url


def listeners(simulator, channel: str) -> int:
    return simulator.call(lambda: len(simulator.server.hub.listeners(channel)))


async def test_two_grids_on_one_market_share_one_book_connection_and_follow_the_price(
    simulator, funded_account
):
    other = simulator.create_account(tier="premium")

    def made() -> list:
        accounts = [account_on(simulator, funded_account), account_on(simulator, other)]
        return [grid_bot(account, "ETH", levels=3) for account in accounts]

    bots = await sync_to_async(made)()
    runners, tasks = await start_runners(bots)

    async def both_full_and_quiet() -> bool:
        full = all(
            len(sim_open_orders(simulator, a.index, ETH)) == 6 for a in (funded_account, other)
        )
        return full and all(quiet(r, simulator) for r in runners)

    await wait_until(both_full_and_quiet, what="two full grids")
    assert market_feed.active().get((simulator.ws_url, ETH)) == 2
    assert listeners(simulator, f"order_book:{ETH}") == 1
    assert listeners(simulator, f"market_stats:{ETH}") == 1
    assert listeners(simulator, f"trade:{ETH}") == 0  # the tape: nobody reads it
    for runner, account in zip(runners, (funded_account, other), strict=True):
        # Each runner's own stream: its account's channels only.
        assert runner.stream.channels() == [
            f"account_orders/{ETH}/{account.index}",
            f"account_all/{account.index}",
        ]

    # The market moves: both grids see it through the one feed and re-centre on it.
    before = sim_mid(simulator, ETH)
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": str(before + 40)})
    simulator.advance(1000)

    async def both_moved() -> bool:
        if not await both_full_and_quiet():
            return False
        views = [r.market_view() for r in runners]
        return all(v is not None and v.mid > before + 20 for v in views)

    await wait_until(both_moved, what="both grids on the moved market")
    for account in (funded_account, other):
        orders = sim_open_orders(simulator, account.index, ETH)
        assert min(o.price for o in orders if o.is_ask) > max(
            o.price for o in orders if not o.is_ask
        )

    for bot in bots:
        await sync_to_async(set_desired)(bot, "stopped")
    assert [await finish(task) for task in tasks] == ["stopped", "stopped"]
    assert (simulator.ws_url, ETH) not in market_feed.active()
    await wait_until(
        lambda: _none_listening(simulator), what="the feed's connection closed with its last bot"
    )


async def _none_listening(simulator) -> bool:
    return listeners(simulator, f"order_book:{ETH}") == 0


async def test_a_quiet_grid_keeps_the_books_inside_its_band_away_and_follows_a_move_out(
    simulator, funded_account
):
    account = await sync_to_async(account_on)(simulator, funded_account)
    bot = await sync_to_async(grid_bot)(account, "ETH", levels=3)
    (runner,), (task,) = await start_runners([bot])

    async def full_and_quiet() -> bool:
        full = len(sim_open_orders(simulator, funded_account.index, ETH)) == 6
        return full and quiet(runner, simulator)

    await wait_until(full_and_quiet, what="a full grid")

    # Nothing to do: the runner told the feed which mids cannot change that (one step either
    # side of the centre here: the grid's neighbouring levels).
    async def banded() -> bool:
        return runner.feed is not None and runner.feed.band is not None

    await wait_until(banded, what="the grid's quiet band at the feed")
    assert runner.feed is not None and runner.feed.band is not None
    low, high = runner.feed.band
    view = runner.market_view()
    assert view is not None and low < view.mid < high
    assert high - low <= 2 * GRID_SHAPES["ETH"]["step"]

    # The price leaves the band: the grid re-centres on it as before.
    before = sim_mid(simulator, ETH)
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": str(before + 40)})
    simulator.advance(1000)

    async def moved() -> bool:
        view = runner.market_view()
        return view is not None and view.mid > before + 20 and await full_and_quiet()

    await wait_until(moved, what="the grid on the moved market")
    orders = sim_open_orders(simulator, funded_account.index, ETH)
    assert min(o.price for o in orders if o.is_ask) > before + 20
    await sync_to_async(set_desired)(bot, "stopped")
    assert await finish(task) == "stopped"
