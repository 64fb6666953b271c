"""API reads: accounts (never a secret), markets, bots, PnL, status; unknown ids are 404."""
# ruff: noqa: F811 - pytest fixtures imported from tests.bots.api_helpers

from decimal import Decimal

import pytest

from bots.models import FundingPayment
from tests.bots.api_helpers import account, api, bot, make_fill, market, staff  # noqa: F401 - fixtures
from tests.lighterweb.factories import api_key_hex, eth_key_hex, make_account

pytestmark = pytest.mark.django_db


def test_accounts_list_says_a_key_is_stored_but_never_shows_it(api, account):
    api_key, eth_key = api_key_hex(), eth_key_hex()
    account.set_api_private_key(api_key)
    account.set_eth_private_key(eth_key)
    account.save()

    response = api.get("/api/accounts")

    assert response.status_code == 200
    [row] = response.json()
    assert row["has_api_key"] is True
    assert row["has_eth_key"] is True
    body = response.content.decode()
    for secret in (api_key, api_key[2:], eth_key[2:], account.api_private_key_encrypted):
        assert secret not in body
    assert "encrypted" not in body


def test_account_get_returns_one_account(api, account):
    row = api.get(f"/api/accounts/{account.pk}").json()

    assert row["name"] == "main"
    assert row["network"] == "paper"
    assert row["dead_mans_switch_enabled"] is False


def test_account_summary_reads_the_last_exchange_check_and_our_orders(api, account, bot):
    account.last_check_summary = {
        "equity": "1000.5",
        "available_balance": "900",
        "collateral": "1000",
        "positions": [{"symbol": "ETH", "side": "long", "size": "0.02"}],
    }
    account.save()

    summary = api.get(f"/api/accounts/{account.pk}/summary").json()

    assert summary["equity"] == "1000.5"
    assert summary["positions"] == [
        {
            "symbol": "ETH",
            "side": "long",
            "size_base": "0.02",
            "avg_entry_price": None,
            "unrealized_pnl": None,
        }
    ]
    assert summary["bots"] == 1
    assert summary["open_orders"] == 0
    assert summary["account"]["id"] == account.pk


def test_account_summaries_list_every_account(api, account):
    make_account(name="second")

    names = [s["account"]["name"] for s in api.get("/api/accounts/summaries").json()]

    assert names == ["main", "second"]


def test_markets_filter_by_network(api, market):
    assert [m["symbol"] for m in api.get("/api/markets", network="paper").json()] == ["ETH"]
    assert api.get("/api/markets", network="mainnet").json() == []


def test_market_get_shows_exchange_market_id_and_decimal_strings(api, market):
    row = api.get(f"/api/markets/{market.pk}").json()

    assert row["exchange_market_id"] == 0
    assert row["min_base_amount"] == "0.005"
    assert row["last_price"] == "4000"


def test_bot_list_filters_by_status(api, bot):
    assert [b["name"] for b in api.get("/api/bots").json()] == ["eth-grid"]
    assert api.get("/api/bots", status="running").json() == []


def test_bot_get_shows_config_and_state_with_money_as_strings(api, bot):
    row = api.get(f"/api/bots/{bot.pk}").json()

    assert row["symbol"] == "ETH"
    assert row["account_name"] == "main"
    assert row["step"] == "10"
    assert row["size"] == "0.01"
    assert row["desired_state"] == "stopped"


@pytest.mark.parametrize(
    "url",
    [
        "/api/accounts/999",
        "/api/accounts/999/summary",
        "/api/markets/999",
        "/api/bots/999",
        "/api/bots/999/pnl",
    ],
)
def test_unknown_id_is_404_in_the_error_format(api, url):
    response = api.get(url)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert response.json()["errors"] == []
    # What was not found and where, not the ORM's "... matching query does not exist."
    assert response.json()["detail"].endswith(f" at {url}.")
    assert "matching query" not in response.json()["detail"]


def test_pnl_splits_grid_profit_fees_and_funding(api, bot):
    make_fill(bot, 1, side="buy", price=Decimal("3990"), level_index=-1, fee=Decimal("0.1"))
    make_fill(bot, 2, side="sell", price=Decimal("4000"), level_index=0, fee=Decimal("0.1"))
    FundingPayment.objects.create(
        account=bot.account,
        market=bot.market,
        bot=bot,
        funding_id=1,
        amount=Decimal("0.05"),
        rate=Decimal("0.0001"),
        paid_at="2026-01-01T00:00:00Z",
    )

    pnl = api.get(f"/api/bots/{bot.pk}/pnl").json()

    assert pnl["grid_profit"] == "0.1"
    assert pnl["fees"] == "0.2"
    assert pnl["funding"] == "0.05"
    assert pnl["position_base"] == "0"
    assert pnl["total"] == "-0.05"
    assert pnl["round_trips"] == 1
    assert pnl["mark_price"] == "4000"


def test_pnl_without_any_price_values_the_position_at_its_entry(api, bot):
    bot.market.last_price = None
    bot.market.save()
    make_fill(bot, 1, side="buy", price=Decimal("3990"))

    pnl = api.get(f"/api/bots/{bot.pk}/pnl").json()

    assert pnl["mark_price"] is None
    assert pnl["unrealized"] == "0"
    assert pnl["position_base"] == "0.01"


def test_status_counts_bots_per_state(api, bot):
    status = api.get("/api/status").json()

    assert status["status"] == "ok"
    assert status["bots_by_status"]["stopped"] == 1
    assert status["bots_by_desired_state"]["running"] == 0
    assert status["accounts"] == 1


def test_health_reports_each_component(api):
    response = api.get("/api/health")

    assert response.status_code in (200, 503)
    assert {"database", "redis", "celery", "beat"} <= set(response.json())
