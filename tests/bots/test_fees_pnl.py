"""Fees exercised: on a premium paper account every grid fill pays Lighter's maker fee, and the
bot's PnL split (fees included) equals the venue's own account PnL to the cent."""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from bots import selectors
from bots.models import Fill, GridBot
from tests.bots.runner_support import (
    account_on,
    finish,
    grid_bot,
    quiet,
    set_desired,
    sim_open_orders,
    start_runners,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)
ETH = 0
CENT = Decimal("0.01")
COLLATERAL = Decimal("100000")


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url


async def test_bot_pnl_with_fees_equals_the_venues_account_pnl(simulator):
    sim_account = simulator.create_account(str(COLLATERAL), tier="premium")
    account = await sync_to_async(account_on)(simulator, sim_account, tier="premium")
    bot = await sync_to_async(grid_bot)(account, "ETH", levels=3)
    (runner,), (task,) = await start_runners([bot])

    async def resting() -> bool:
        orders = sim_open_orders(simulator, sim_account.index, ETH)
        return quiet(runner, simulator) and len(orders) == 6

    await wait_until(resting, what="six resting orders")
    for price in ("3012.00", "2991.00", "3007.00"):  # fills on both sides, round trips too
        simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": price})
        simulator.advance(1000)
        await wait_until(resting, what=f"the grid after {price}")
    await sync_to_async(set_desired)(bot, "stopped")
    assert await finish(task) == "stopped"

    fills = await sync_to_async(lambda: list(Fill.objects.filter(bot=bot)))()
    assert len(fills) >= 3 and all(f.fee > 0 for f in fills), "premium maker fills pay a fee"
    async with account.client() as client:
        venue = await client.account()
    position = venue.position(ETH)
    # The venue values the position at its mark: position value / size (lighter-api.md).
    mark = position.position_value / position.size if position else Decimal(3007)
    books = (
        await sync_to_async(selectors.bot_ledger)(
            await sync_to_async(GridBot.objects.get)(pk=bot.pk)
        )
    ).summary(mark)

    realized_on_venue = venue.collateral - COLLATERAL  # realized PnL - fees + funding
    assert (books.realized - books.fees + books.funding).quantize(
        CENT
    ) == realized_on_venue.quantize(CENT)
    unrealized_on_venue = Decimal(0) if position is None else position.unrealized_pnl
    assert books.unrealized.quantize(CENT) == unrealized_on_venue.quantize(CENT)
    assert books.fees > 0
