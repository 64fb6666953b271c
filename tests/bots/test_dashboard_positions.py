"""The positions page and its confirmed actions (README "Positions"), against the simulator."""

from decimal import Decimal

import pytest
from django.test import Client

from bots.models import BotEvent
from exchange.types import OrderSide
from lighterweb.models import AuditEntry
from tests.bots.test_positions import account_on, eth, open_position, venue_position
from tests.lighterweb.factories import make_bot, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url
    settings.CELERY_BROKER_URL = redis_url


@pytest.fixture
def account(simulator, funded_account):
    account = account_on(simulator, funded_account)
    eth()
    open_position(account, OrderSide.BUY, "0.2")
    return account


def login(role: str) -> Client:
    client = Client()
    client.force_login(make_user(f"user-{role}", role=role))
    return client


def test_the_page_shows_the_position_and_its_actions(account):
    page = login("operator").get(f"/dashboard/accounts/{account.pk}/positions/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "0.2000 ETH" in text and "Unattributed" in text and "lw-close-button" in text


def test_the_overview_and_the_admin_account_page_link_to_it(account):
    client = login("admin")
    url = f"/dashboard/accounts/{account.pk}/positions/"

    assert url in client.get("/dashboard/").content.decode()
    assert url in client.get(f"/admin/bots/exchangeaccount/{account.pk}/change/").content.decode()


def test_a_viewer_sees_the_page_without_actions_and_cannot_close(account):
    client = login("viewer")

    page = client.get(f"/dashboard/accounts/{account.pk}/positions/")
    assert page.status_code == 200 and "lw-close-button" not in page.content.decode()
    response = client.post(
        f"/dashboard/accounts/{account.pk}/positions/0/close/", {"confirmed": "1"}
    )
    assert response.status_code == 403
    assert venue_position(account) == Decimal("0.2")


def test_close_from_the_page_leaves_it_flat_with_an_event_and_an_audit_entry(account):
    bot = make_bot(account, eth())

    response = login("operator").post(
        f"/dashboard/accounts/{account.pk}/positions/0/close/",
        {"confirmed": "1", "mode": "market", "max_slippage_pct": "1"},
        headers={"Accept": "application/json"},
    )

    assert response.status_code == 200, response.content
    assert "closed" in response.json()["detail"] and "0 left" in response.json()["detail"]
    assert venue_position(account) == 0
    assert BotEvent.objects.filter(bot=bot, kind="position_close").exists()
    assert AuditEntry.objects.filter(action="position_close").exists()


@pytest.mark.parametrize(
    ("form", "words"),
    [
        ({"confirmed": "1", "mode": "limit"}, "worst_price"),
        ({"confirmed": "1", "mode": "market", "max_slippage_pct": "abc"}, "max_slippage_pct"),
        ({"confirmed": "1", "mode": "market", "max_slippage_pct": "50"}, "max_slippage"),
        ({"mode": "market"}, "not confirmed"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_trades(account, form, words):
    response = login("operator").post(
        f"/dashboard/accounts/{account.pk}/positions/0/close/",
        form,
        headers={"Accept": "application/json"},
    )

    assert response.status_code == 400
    assert words in response.json()["detail"]
    assert venue_position(account) == Decimal("0.2")


def test_tpsl_from_the_page_is_shown_and_cancellable(account):
    client = login("operator")
    url = f"/dashboard/accounts/{account.pk}/positions/0/tpsl/"

    response = client.post(
        url, {"confirmed": "1", "take_profit": "3300"}, headers={"Accept": "application/json"}
    )

    assert response.status_code == 200, response.content
    page = client.get(f"/dashboard/accounts/{account.pk}/positions/").content.decode()
    assert "TP at 3300.00 USDC" in page
    assert "lw-tpsl-cancel" in page
