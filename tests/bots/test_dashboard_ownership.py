"""The dashboard's Start takes the adopt/leave answer like the admin and the API do."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from bots.models import GridBot
from lighterweb.models import AuditEntry
from tests.bots.api_helpers import make_fill
from tests.lighterweb.factories import make_account, make_bot, make_market, role_group

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture(autouse=True)
def _test_redis(settings, redis_url):  # type: ignore[no-untyped-def]
    settings.REDIS_URL = redis_url


@pytest.fixture
def operator() -> Client:
    user = get_user_model().objects.create_user("op", password="pw-long-enough-1", is_staff=True)
    user.groups.add(role_group("operator"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def new_bot() -> GridBot:
    account, market = make_account(), make_market()
    make_fill(make_bot(account, market, name="old-grid"), 1, side="sell", size_base=Decimal("0.02"))
    return make_bot(account, market, name="new-grid")


def test_start_without_an_answer_is_refused_naming_the_size(operator, new_bot):
    response = operator.post(f"/dashboard/bots/{new_bot.pk}/start/", {"confirmed": "1"}, **JSON)

    assert response.status_code == 409
    assert "-0.02 ETH held by stopped bot old-grid" in response.json()["detail"]
    assert GridBot.objects.get(pk=new_bot.pk).desired_state == "stopped"


def test_start_with_adopt_records_it_in_the_audit_entry(operator, new_bot):
    response = operator.post(
        f"/dashboard/bots/{new_bot.pk}/start/", {"confirmed": "1", "unattributed": "adopt"}, **JSON
    )

    assert response.status_code == 200
    assert GridBot.objects.get(pk=new_bot.pk).unattributed_choice == "adopt"
    assert AuditEntry.objects.get(action="bot_start").detail.endswith("(adopt -0.02 ETH)")


def test_the_bot_page_offers_the_choice_beside_start(operator, new_bot):
    page = operator.get(f"/dashboard/bots/{new_bot.pk}/").content.decode()

    assert 'name="unattributed"' in page and 'value="leave"' in page
    assert 'data-pnl="unattributed_base"' in page
