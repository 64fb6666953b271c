"""A runner's reserve of client order indexes: taken from the account's counter in blocks, never
handing out an index the counter gives to anyone else."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from bots.engine.recording import ClientIndexes, order_intents_create
from bots.models import GridBot
from bots.strategies.grid import DesiredOrder, Side
from tests.lighterweb.factories import make_account, make_bot, make_market

pytestmark = pytest.mark.django_db(transaction=True)

ORDER = DesiredOrder(
    level=-1, side=Side.BUY, price=Decimal("2995"), size_base=Decimal("0.01"), post_only=True
)


class RolledBack(Exception):
    pass


@pytest.fixture
def bot() -> GridBot:
    bot = make_bot(make_account(), make_market())
    GridBot.objects.filter(pk=bot.pk).update(lease_fence=1)
    return GridBot.objects.select_related("account", "market").get(pk=bot.pk)


def test_plans_take_their_indexes_from_one_counter_update_per_block(bot):
    reserve = ClientIndexes()

    indexes = [
        row.client_order_index
        for _ in range(3)
        for row in order_intents_create(bot, 1, [ORDER, ORDER], reserve=reserve)
    ]

    bot.account.refresh_from_db()
    assert indexes == [1, 2, 3, 4, 5, 6]
    assert bot.account.next_client_order_index == 1 + ClientIndexes.BLOCK


def test_a_block_whose_transaction_rolled_back_is_never_handed_out(bot):
    reserve = ClientIndexes()
    with pytest.raises(RolledBack), transaction.atomic():
        order_intents_create(bot, 1, [ORDER], reserve=reserve)
        raise RolledBack
    # The counter went back: these indexes are another caller's now.
    others = bot.account.allocate_client_order_indexes(5)

    (row,) = order_intents_create(bot, 1, [ORDER], reserve=reserve)

    assert row.client_order_index not in others
    assert row.client_order_index == others.stop
