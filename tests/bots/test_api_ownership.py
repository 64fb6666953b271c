"""Positions are owned (README "How positions are owned"): the API asks adopt/leave at start,
never deciding silently, and shows the unattributed remainder per market."""
# ruff: noqa: F811 - pytest fixtures imported from tests.bots.api_helpers

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bots.models import BotEvent, ExchangeAccount, GridBot
from lighterweb.models import AuditEntry
from tests.bots.api_helpers import account, api, bot, make_fill, market, staff  # noqa: F401
from tests.lighterweb.factories import make_bot

pytestmark = pytest.mark.django_db


@pytest.fixture
def leftover(account, market) -> GridBot:
    """A stopped grid on the same account and market that holds a short 0.02 ETH."""
    stopped = make_bot(account, market, name="old-grid")
    make_fill(stopped, 1, side="sell", size_base=Decimal("0.02"), price=Decimal("4010"))
    ExchangeAccount.objects.filter(pk=account.pk).update(
        last_check_summary={"positions": [{"symbol": "ETH", "side": "short", "size": "0.02"}]}
    )
    return stopped


def test_start_without_a_choice_is_refused_naming_the_field_and_the_size(api, bot, leftover):
    response = api.post(f"/api/bots/{bot.pk}/start")

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "unattributed"
    assert "-0.02" in error["message"] and "old-grid" in error["message"]
    assert GridBot.objects.get(pk=bot.pk).desired_state == "stopped"


def test_a_choice_that_is_not_adopt_or_leave_is_a_field_error(api, bot, leftover):
    response = api.post(f"/api/bots/{bot.pk}/start", {"unattributed": "keep"})

    assert response.status_code == 422
    assert "unattributed" in response.text


@pytest.mark.parametrize("choice", ["adopt", "leave"])
def test_a_start_with_a_choice_records_it_as_event_and_audit_entry(api, bot, leftover, choice):
    response = api.post(f"/api/bots/{bot.pk}/start", {"unattributed": choice})

    assert response.status_code == 200
    row = GridBot.objects.get(pk=bot.pk)
    assert (row.desired_state, row.unattributed_choice) == ("running", choice)
    assert row.unattributed_choice_base == Decimal("-0.02")
    event = BotEvent.objects.get(bot=bot, kind=f"position_{choice}")
    assert "-0.02" in event.message and "alice" in event.message
    entry = AuditEntry.objects.get(action="bot_start")
    assert choice in entry.detail and "-0.02" in entry.detail


def test_a_start_where_every_position_is_the_bots_own_needs_no_choice(api, bot):
    make_fill(bot, 1, size_base=Decimal("0.01"))
    ExchangeAccount.objects.filter(pk=bot.account_id).update(
        last_check_summary={"positions": [{"symbol": "ETH", "side": "long", "size": "0.01"}]}
    )

    assert api.post(f"/api/bots/{bot.pk}/start").status_code == 200
    assert GridBot.objects.get(pk=bot.pk).unattributed_choice == ""


def test_account_summary_splits_each_position_into_the_bots_and_unattributed(api, bot, leftover):
    # The exchange shows 0.05 short: 0.02 is the stopped grid's, the rest nobody's.
    ExchangeAccount.objects.filter(pk=bot.account_id).update(
        last_check_summary={"positions": [{"symbol": "ETH", "side": "short", "size": "0.05"}]}
    )

    body = api.get(f"/api/accounts/{bot.account_id}/summary").json()

    [eth] = body["ownership"]
    assert eth["symbol"] == "ETH"
    assert Decimal(eth["exchange_base"]) == Decimal("-0.05")
    assert Decimal(eth["unattributed"]) == Decimal("-0.03")
    owned = {b["name"]: Decimal(b["position_base"]) for b in eth["bots"]}
    assert owned == {"old-grid": Decimal("-0.02"), "eth-grid": 0}


def test_bot_pnl_counts_only_its_own_position_and_shows_the_unattributed_beside_it(
    api, bot, leftover
):
    ExchangeAccount.objects.filter(pk=bot.account_id).update(
        last_check_summary={"positions": [{"symbol": "ETH", "side": "short", "size": "0.05"}]}
    )

    body = api.get(f"/api/bots/{bot.pk}/pnl").json()

    assert Decimal(body["position_base"]) == 0
    assert Decimal(body["unattributed_base"]) == Decimal("-0.03")


def test_a_fill_after_the_last_exchange_read_is_not_shown_unattributed(api, bot):
    """The exchange's position is from the account's last read; the bots' fills are live. A
    grid that bought 0.01 before the read and sold it after: the read says long 0.01, all of
    it the grid's then. Before, the sale counted against that read showed 0.01 unattributed
    (on the account list after every fill, until the next read a minute or two later) and
    asked the operator about it at a start."""
    read_at = timezone.now()
    make_fill(bot, 1, side="buy", executed_at=read_at - timedelta(seconds=1))
    make_fill(bot, 2, side="sell", executed_at=read_at + timedelta(seconds=1))
    ExchangeAccount.objects.filter(pk=bot.account_id).update(
        last_checked_at=read_at,
        last_check_summary={"positions": [{"symbol": "ETH", "side": "long", "size": "0.01"}]},
    )

    [eth] = api.get(f"/api/accounts/{bot.account_id}/summary").json()["ownership"]
    assert Decimal(eth["unattributed"]) == 0
    assert Decimal(api.get(f"/api/bots/{bot.pk}/pnl").json()["unattributed_base"]) == 0
    assert api.post(f"/api/bots/{bot.pk}/start").status_code == 200
