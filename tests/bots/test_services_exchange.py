"""Account and market actions against the in-process simulator (real SDK, real Redis)."""

from decimal import Decimal

import pytest

from bots import services
from bots.models import ExchangeAccount, Market
from lighterweb.redis_server import free_port
from tests.lighterweb.factories import make_account

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url


def _account_on(simulator, sim_account=None, **overrides) -> ExchangeAccount:
    fields = {"base_url_override": simulator.base_url, "tier": "premium"}
    if sim_account is not None:
        fields |= {
            "account_index": sim_account.index,
            "api_key_index": sim_account.api_key_index,
            "l1_address": sim_account.l1_address,
        }
    fields |= overrides
    account = make_account(**fields)
    if sim_account is not None:
        account.set_api_private_key(sim_account.private_key)
        account.save()
    return account


def test_test_connection_stores_balance_and_clears_the_error(simulator, funded_account):
    account = _account_on(simulator, funded_account)
    ExchangeAccount.objects.filter(pk=account.pk).update(last_error="old failure")

    report = services.account_test_connection(account)

    assert Decimal(report.summary["collateral"]) == Decimal("100000")
    assert report.summary["open_orders"] == 0
    account.refresh_from_db()
    assert account.last_error == ""
    assert account.last_checked_at == report.checked_at
    assert account.last_check_summary == report.summary


def test_test_connection_with_a_wrong_key_stores_the_error(simulator, funded_account):
    other = simulator.create_account()
    account = _account_on(simulator, funded_account)
    account.set_api_private_key(other.private_key)
    account.save()

    with pytest.raises(services.ExchangeActionFailed) as caught:
        services.account_test_connection(account)

    account.refresh_from_db()
    assert account.last_error == str(caught.value)
    assert "AuthError" in account.last_error
    assert other.private_key[2:] not in account.last_error
    assert account.last_checked_at is not None


def test_test_connection_to_a_dead_exchange_fails_cleanly(simulator, funded_account):
    account = _account_on(
        simulator, funded_account, base_url_override=f"http://127.0.0.1:{free_port()}"
    )

    with pytest.raises(services.ExchangeActionFailed):
        services.account_test_connection(account)

    account.refresh_from_db()
    assert account.last_error


def test_test_connection_without_a_key_is_refused_before_calling(simulator):
    account = _account_on(simulator)

    with pytest.raises(services.ExchangeActionFailed, match="API private key"):
        services.account_test_connection(account)


def test_look_up_fills_the_account_index_from_the_l1_address(simulator, funded_account):
    account = _account_on(simulator, l1_address=funded_account.l1_address, account_index=None)

    index = services.account_lookup_index(account)

    account.refresh_from_db()
    assert index == account.account_index == funded_account.index


def test_look_up_of_an_unknown_address_fails_and_changes_nothing(simulator):
    account = _account_on(simulator, l1_address="0x" + "ab" * 20, account_index=None)

    with pytest.raises(services.ExchangeActionFailed, match="No account found"):
        services.account_lookup_index(account)

    account.refresh_from_db()
    assert account.account_index is None


def test_sync_markets_creates_rows_then_updates_them_in_place(simulator):
    account = _account_on(simulator)

    created = services.markets_sync(account)
    again = services.markets_sync(account)

    assert created == again == Market.objects.filter(network="paper").count()
    eth = Market.objects.get(network="paper", symbol="ETH")
    assert (eth.market_id, eth.size_decimals, eth.price_decimals) == (0, 4, 2)
    assert eth.min_base_amount > 0 and eth.max_leverage > 1
    assert eth.synced_at is not None
