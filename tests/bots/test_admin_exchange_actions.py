"""The admin's exchange actions against the simulator: messages shown, results stored."""

import logging

import pytest
from django.urls import reverse

from bots.models import ExchangeAccount, Market
from tests.lighterweb.factories import make_account

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url


@pytest.fixture
def account(simulator, funded_account):
    account = make_account(
        base_url_override=simulator.base_url,
        tier="premium",
        account_index=None,
        api_key_index=funded_account.api_key_index,
        l1_address=funded_account.l1_address,
    )
    account.set_api_private_key(funded_account.private_key)
    account.save()
    return account


def _act(admin_client, action, account):
    return admin_client.post(
        reverse("admin:bots_exchangeaccount_changelist"),
        {"action": action, "_selected_action": [account.pk]},
        follow=True,
    )


def test_look_up_then_test_connection_show_success_messages(
    admin_client, account, funded_account, caplog
):
    caplog.set_level(logging.DEBUG)

    looked_up = _act(admin_client, "look_up_account_index", account)
    checked = _act(admin_client, "test_connection", account)

    assert "Account index found: 1 item(s)." in looked_up.text
    assert "connection ok" in checked.text
    account.refresh_from_db()
    assert account.account_index == funded_account.index
    assert account.last_checked_at is not None and account.last_error == ""
    key = funded_account.private_key.removeprefix("0x").lower()
    assert key not in checked.text.lower()
    assert key not in caplog.text.lower()


def test_failed_test_connection_shows_an_error_message(admin_client, account):
    response = _act(admin_client, "test_connection", account)

    # The account index is still unknown: refused before reaching the exchange.
    assert "Set the account index" in response.text
    assert ExchangeAccount.objects.get(pk=account.pk).last_checked_at is None


def test_sync_markets_action_fills_the_market_list(admin_client, account):
    response = _act(admin_client, "sync_markets", account)

    assert "Synced: 1 item(s)." in response.text
    assert Market.objects.filter(network="paper", symbol="ETH").exists()
    listing = admin_client.get(reverse("admin:bots_market_changelist"))
    assert "ETH" in listing.text
