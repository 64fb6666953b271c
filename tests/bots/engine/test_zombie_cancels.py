"""A batch the exchange accepts (200) but never executes leaves no zombie: its cancels are
re-checked within seconds and sent again, its creates resolved, and no level holds two orders."""

from __future__ import annotations

from collections import Counter

import pytest
from asgiref.sync import sync_to_async

from bots.models import BotEvent
from tests.bots.runner_support import (
    full_eth_grid,
    quiet,
    sim_open_orders,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)
ETH = 0


def _levels(simulator, account_index: int) -> Counter[tuple[bool, int]]:
    return Counter((o.is_ask, o.price) for o in sim_open_orders(simulator, account_index, ETH))


async def test_a_batch_that_never_executes_leaves_no_zombie_and_no_doubled_level(
    simulator, funded_account
):
    index = funded_account.index
    _account, bot, runner, task = await full_eth_grid(simulator, funded_account)
    before = {o.client_order_index for o in sim_open_orders(simulator, index, ETH)}
    # The next batch (the replenish after a fill: creates and the far cancel) is accepted and lost.
    simulator.faults({"kind": "tx_never_executed", "target": "sendTxBatch", "count": 1})
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "3007.00"})
    simulator.advance(1000)

    async def healed() -> bool:
        levels = _levels(simulator, index)
        settled = quiet(runner, simulator) and not runner.orders.cancelling
        return settled and sum(levels.values()) == 6 and max(levels.values()) == 1

    await wait_until(healed, timeout_s=45, what="the grid whole again, one order per level")
    kinds = await sync_to_async(
        lambda: set(BotEvent.objects.filter(bot=bot).values_list("kind", flat=True))
    )()
    assert "cancel_unconfirmed" in kinds, "the lost cancel was found and sent again"
    assert before - {o.client_order_index for o in sim_open_orders(simulator, index, ETH)}
    task.cancel()
