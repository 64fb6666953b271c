"""Ownership records in the database: adoptions fold into the bot's books in time order, and a
deleted bot's position stays counted as someone else's (never as the remainder moving)."""

from decimal import Decimal

import pytest
from django.utils import timezone

from bots import ownership, selectors, services
from bots.engine.ownership import other_positions
from bots.models import PositionTransfer
from tests.bots.api_helpers import make_fill
from tests.lighterweb.factories import make_account, make_bot, make_market

pytestmark = pytest.mark.django_db
D = Decimal


def test_an_adoption_is_the_cost_basis_of_the_bots_books_and_later_fills_build_on_it():
    account, market = make_account(), make_market()
    bot = make_bot(account, market)
    PositionTransfer.objects.create(
        account=account, market=market, bot=bot, size_base=D("-0.02"), price=D("4000")
    )
    make_fill(bot, 1, side="buy", size_base=D("0.01"), price=D("3990"), executed_at=timezone.now())

    books = selectors.bot_ledger(bot)

    assert books.position_base == ownership.bot_position(bot.pk) == D("-0.01")
    assert books.realized == D("0.10")  # bought back 0.01 at 3990 of a short adopted at 4000
    assert books.summary(D("4000")).avg_entry_price == D("4000")


def test_a_deleted_stopped_bot_stays_another_owner_for_the_running_bots_check():
    account, market = make_account(), make_market()
    running, old = make_bot(account, market, name="running"), make_bot(account, market, name="old")
    make_fill(old, 1, side="sell", size_base=D("0.02"))
    make_fill(running, 2, side="buy", size_base=D("0.01"))
    before = sum(other_positions(running))

    services.bot_delete(old, actor="op")

    assert sum(other_positions(running)) == before == D("-0.02")
    # For the pages, nobody owns it any more: it is unattributed.
    account.last_check_summary = {"positions": [{"symbol": "ETH", "side": "short", "size": "0.01"}]}
    (eth,) = ownership.account_ownership(account)
    assert eth.unattributed == D("-0.02")
