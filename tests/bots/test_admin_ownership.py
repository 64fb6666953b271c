"""The admin's Start asks adopt/leave on an intermediate page where a position on the bot's
account and market is not its own, and records the answer (README "How positions are owned")."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from bots.models import BotEvent, Fill, GridBot
from lighterweb.models import AuditEntry
from tests.lighterweb.factories import make_account, make_bot, make_market

pytestmark = pytest.mark.django_db


@pytest.fixture
def new_bot() -> GridBot:
    """A stopped bot on a market where a stopped grid holds 0.03 ETH short."""
    account, market = make_account(), make_market()
    old = make_bot(account, market, name="old-grid")
    Fill.objects.create(
        account=account, market=market, bot=old, trade_id=1, side="sell",
        price=Decimal("4010"), size_base=Decimal("0.03"), fee=Decimal(0), is_maker=True,
        executed_at=timezone.now(),
    )  # fmt: skip
    return make_bot(account, market, name="new-grid")


def _start(admin_client, bot: GridBot, **extra: str):
    url = reverse("admin:bots_gridbot_changelist")
    return admin_client.post(url, {"action": "start", "_selected_action": [bot.pk], **extra})


def test_start_shows_the_choice_page_and_changes_nothing(admin_client, new_bot):
    response = _start(admin_client, new_bot)

    assert response.status_code == 200
    page = response.content.decode()
    assert "-0.03 ETH held by stopped bot old-grid" in page
    assert f'name="unattributed_{new_bot.pk}" value="adopt"' in page
    assert GridBot.objects.get(pk=new_bot.pk).desired_state == "stopped"


def test_confirmed_leave_starts_the_bot_and_records_the_choice(admin_client, new_bot):
    response = _start(
        admin_client, new_bot, confirm="start", **{f"unattributed_{new_bot.pk}": "leave"}
    )

    assert response.status_code == 302
    row = GridBot.objects.get(pk=new_bot.pk)
    assert (row.desired_state, row.unattributed_choice) == ("running", "leave")
    assert BotEvent.objects.filter(bot=new_bot, kind="position_leave").exists()
    assert "leave -0.03" in AuditEntry.objects.get(action="bot_start").detail


def test_confirming_without_a_choice_is_refused_with_the_size(admin_client, new_bot):
    response = _start(admin_client, new_bot, confirm="start")

    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("unattributed is missing" in m and "-0.03" in m for m in messages)
    assert GridBot.objects.get(pk=new_bot.pk).desired_state == "stopped"
