"""POST /api/bots/preview: the grid preview over the API, with 422s naming the field."""
# ruff: noqa: F811 - pytest fixtures imported from tests.bots.api_helpers

from decimal import Decimal

import pytest

from bots.models import GridBot
from lighterweb.models import ApiToken
from tests.bots.api_helpers import (  # noqa: F401 - fixtures
    Api,
    account,
    api,
    make_user,
    market,
    staff,
)
from tests.lighterweb.factories import make_bot

pytestmark = pytest.mark.django_db


def _grid(account, market, **overrides):
    """ETH at 4000 (the factory market), 3 levels 10 apart, 0.01 ETH each."""
    return {
        "account_id": account.pk,
        "market_id": market.pk,
        "step": "10",
        "levels_per_side": 3,
        "size": "0.01",
        "max_open_orders": 10,
        "max_position_notional": "100",
        "leverage": "5",
    } | overrides


def _errors(response):
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def test_preview_lists_level_prices_around_the_market_price_in_its_decimals(api, account, market):
    response = api.post("/api/bots/preview", _grid(account, market))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["reference_price"] == "4000.00"
    assert body["price_source"] == "market"
    assert [level["price"] for level in body["levels"]] == [
        "4030.00", "4020.00", "4010.00", "3990.00", "3980.00", "3970.00"
    ]  # fmt: skip
    assert body["levels"][0]["size_base"] == "0.0100"
    # Sells 40.10 + 40.20 + 40.30 = 120.60 quote; margin at 5x.
    assert (body["capital_quote"], body["margin_quote"]) == ("120.60", "24.12")
    # Standard tier: no fees, so a step earns 0.01 * 10.
    assert body["step_profit_min_quote"] == "0.1000"
    assert (body["base_unit"], body["quote_unit"]) == ("ETH", "USDC")
    # 100 quote of cap: two buys (39.90 + 39.80 = 79.70), a third would make 0.03 * 3970.
    assert body["long_cap"]["orders"] == 2
    assert body["long_cap"]["last_price"] == "3980.00"
    assert body["long_cap"]["liquidation_price"] is not None


def test_preview_uses_the_bots_last_book_mid_when_editing_a_bot(api, account, market):
    bot = make_bot(account, market)
    GridBot.objects.filter(pk=bot.pk).update(last_price=Decimal("4100"))

    body = api.post("/api/bots/preview", _grid(account, market, bot_id=bot.pk)).json()

    assert (body["reference_price"], body["price_source"]) == ("4100.00", "bot")


def test_a_sent_price_overrides_the_known_one(api, account, market):
    body = api.post("/api/bots/preview", _grid(account, market, price="2500")).json()

    assert body["price_source"] == "request"
    assert body["centre_price"] == "2500.00"


def test_a_grid_with_a_level_at_or_below_zero_is_a_422_on_the_step(api, account, market):
    body = _grid(account, market, step="1000", levels_per_side=5, max_open_orders=10)

    response = api.post("/api/bots/preview", body)

    assert response.status_code == 422
    assert "step" in _errors(response)
    assert "<= 0" in _errors(response)["step"]


def test_a_level_beyond_the_stop_loss_is_a_422_on_the_stop_loss(api, account, market):
    response = api.post("/api/bots/preview", _grid(account, market, stop_loss_price="3985"))

    assert response.status_code == 422
    assert "stop-loss" in _errors(response)["stop_loss_price"]


def test_a_quote_size_below_the_minimum_is_a_422_in_quote_units(api, account, market):
    response = api.post("/api/bots/preview", _grid(account, market, size_mode="quote", size="5"))

    assert response.status_code == 422
    assert "quote" in _errors(response)["size"]


def test_an_unknown_market_is_a_422_on_market_id(api, account):
    response = api.post("/api/bots/preview", {**_grid(account, account), "market_id": 999999})

    assert response.status_code == 422
    assert "market_id" in _errors(response)


def test_a_viewer_may_not_preview(account, market, settings, redis_url):
    _, raw = ApiToken.issue(make_user("val", role="viewer"), "tests")

    response = Api(raw).post("/api/bots/preview", _grid(account, market))

    assert response.status_code == 403
