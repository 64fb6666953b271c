"""Model behaviour: endpoint resolution, secrets handling, counters, constraints."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import IntegrityError, connection, transaction

from bots.models import ExchangeAccount, GridBot, Order
from tests.lighterweb.factories import api_key_hex, bot_fields, make_account, make_market

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("network", "base_url", "ws_url", "chain_id"),
    [
        (
            "mainnet",
            "https://mainnet.zklighter.elliot.ai",
            "wss://mainnet.zklighter.elliot.ai/stream",
            304,
        ),
        (
            "testnet",
            "https://testnet.zklighter.elliot.ai",
            "wss://testnet.zklighter.elliot.ai/stream",
            300,
        ),
        ("paper", "http://127.0.0.1:18089", "ws://127.0.0.1:18089/stream", 304),
    ],
)
def test_network_decides_endpoints_and_chain_id(settings, network, base_url, ws_url, chain_id):
    settings.LIGHTER_PAPER_URL = "http://127.0.0.1:18089/"
    account = ExchangeAccount(name="a", network=network)

    assert (account.base_url, account.ws_url, account.chain_id) == (base_url, ws_url, chain_id)


def test_overrides_win_over_network_defaults():
    account = ExchangeAccount(
        name="a", network="mainnet", base_url_override="http://10.0.0.5:9000", chain_id_override=1
    )

    assert (account.base_url, account.ws_url, account.chain_id) == (
        "http://10.0.0.5:9000",
        "ws://10.0.0.5:9000/stream",
        1,
    )


def test_api_key_is_stored_encrypted_and_decrypts_back():
    key = api_key_hex()
    account = make_account()

    account.set_api_private_key(key)
    account.save()

    stored = ExchangeAccount.objects.get(pk=account.pk)
    assert key not in stored.api_private_key_encrypted
    assert stored.decrypt_api_private_key() == key


def test_repr_and_str_never_contain_the_key():
    key = api_key_hex()
    account = make_account()
    account.set_api_private_key(key)

    assert key not in repr(account)
    assert key not in str(account)


def test_client_order_indexes_are_consecutive_and_never_reused():
    account = make_account()

    first = account.allocate_client_order_indexes(3)
    second = account.allocate_client_order_indexes(2)

    assert list(first) == [1, 2, 3]
    assert list(second) == [4, 5]


@pytest.mark.django_db(transaction=True)
def test_concurrent_allocations_get_disjoint_indexes():
    account = make_account()

    def allocate(_: int) -> list[int]:
        try:
            return list(ExchangeAccount.objects.get(pk=account.pk).allocate_client_order_indexes(5))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        ranges = list(pool.map(allocate, range(8)))

    flat = [i for r in ranges for i in r]
    assert sorted(flat) == list(range(1, 41))


def test_database_rejects_two_active_grids_on_one_account_and_market():
    account, market = make_account(), make_market()
    GridBot.objects.create(**bot_fields(account, market), desired_state="running")

    with pytest.raises(IntegrityError), transaction.atomic():
        GridBot.objects.create(**bot_fields(account, market), desired_state="paused")


def test_stopped_grids_may_share_account_and_market():
    account, market = make_account(), make_market()
    GridBot.objects.create(**bot_fields(account, market), desired_state="running")

    GridBot.objects.create(**bot_fields(account, market), desired_state="stopped")

    assert GridBot.objects.count() == 2


def test_client_order_index_is_unique_per_account():
    account, market = make_account(), make_market()
    order = {"account": account, "market": market, "side": "buy", "price": 1, "size_base": 1}
    Order.objects.create(client_order_index=5, **order)

    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(client_order_index=5, **order)
