"""API grid bot CRUD through bots.services: admin validation (422 per field), 404s, refusals."""
# ruff: noqa: F811 - pytest fixtures imported from tests.bots.api_helpers

import json

import pytest

from bots.models import BotEvent, GridBot
from tests.bots.api_helpers import account, api, bot, market, staff  # noqa: F401 - fixtures
from tests.lighterweb.factories import make_market

pytestmark = pytest.mark.django_db


def _new_bot(account, market, **overrides):
    return {
        "name": "btc-grid",
        "account_id": account.pk,
        "market_id": market.pk,
        "step": "10",
        "levels_per_side": 5,
        "size": "0.01",
        "max_open_orders": 10,
        "max_position_notional": "1000",
        "leverage": "5",
    } | overrides


def test_create_returns_201_and_a_stopped_bot(api, account, market):
    response = api.post("/api/bots", _new_bot(account, market))

    assert response.status_code == 201
    row = response.json()
    assert row["desired_state"] == "stopped"
    assert row["step"] == "10"
    bot = GridBot.objects.get(pk=row["id"])
    assert bot.market == market
    assert "alice" in BotEvent.objects.get(bot=bot, kind="created").message


def test_create_reports_every_invalid_field_as_422(api, account, market):
    body = _new_bot(account, market, step="0", levels_per_side=60, size="0.0001")

    response = api.post("/api/bots", body)

    assert response.status_code == 422
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert set(errors) >= {"step", "levels_per_side", "size"}
    assert "greater than zero" in errors["step"]


def test_create_refuses_a_market_of_another_network(api, account):
    mainnet_eth = make_market(network="mainnet", market_id=0)

    response = api.post("/api/bots", _new_bot(account, mainnet_eth))

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["market"]


@pytest.mark.parametrize("field", ["account_id", "market_id"])
def test_create_with_unknown_reference_names_the_field(api, account, market, field):
    response = api.post("/api/bots", _new_bot(account, market, **{field: 999}))

    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": field, "message": "No such id: 999."}]


def test_create_with_malformed_body_lists_each_field(api, account, market):
    body = _new_bot(account, market, step="ten", spacing_mode="spiral")
    del body["size"]

    response = api.post("/api/bots", body)

    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"step", "spacing_mode", "size"}


def test_update_changes_only_the_fields_sent(api, bot):
    response = api.patch(f"/api/bots/{bot.pk}", {"step": "12.5"})

    assert response.status_code == 200
    bot.refresh_from_db()
    assert str(bot.step.normalize()) == "12.5"
    assert bot.levels_per_side == 5


def test_update_validates_like_the_admin(api, bot):
    response = api.patch(f"/api/bots/{bot.pk}", {"max_open_orders": 3})

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["max_open_orders"]


def test_update_of_the_grid_shape_while_running_is_refused(api, bot):
    api.post(f"/api/bots/{bot.pk}/start")

    response = api.patch(f"/api/bots/{bot.pk}", {"step": "20"})

    assert response.status_code == 409
    assert response.json()["code"] == "refused"


def test_delete_removes_a_stopped_bot(api, bot):
    response = api.delete(f"/api/bots/{bot.pk}")

    assert response.status_code == 204
    assert not GridBot.objects.filter(pk=bot.pk).exists()


def test_delete_of_a_running_bot_is_refused(api, bot):
    api.post(f"/api/bots/{bot.pk}/start")

    response = api.delete(f"/api/bots/{bot.pk}")

    assert response.status_code == 409
    assert GridBot.objects.filter(pk=bot.pk).exists()


@pytest.mark.parametrize(("method", "body"), [("patch", {"name": "x"}), ("delete", None)])
def test_update_or_delete_of_unknown_bot_is_404(api, method, body):
    response = api.call(method, "/api/bots/999", body)

    assert response.status_code == 404


def test_ids_beyond_64_bits_are_422_not_a_server_error(api):
    response = api.get("/api/fills", account_id=10**22)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["account_id"]


@pytest.mark.parametrize(
    ("method", "url_of", "body"),
    [
        ("post", lambda bot: "/api/bots", {"nmae": "x"}),
        ("patch", lambda bot: f"/api/bots/{bot.pk}", {"name": "ok", "colour": "red"}),
        ("patch", lambda bot: f"/api/bots/{bot.pk}", {"desired_state": "running"}),
    ],
    ids=["create misspelt", "patch unknown", "patch engine-owned"],
)
def test_unknown_fields_are_422_naming_the_field(api, bot, method, url_of, body):
    response = api.call(method, url_of(bot), body)

    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert set(body) - {"name"} <= set(fields)


@pytest.mark.parametrize("body", [[], True, 0, "name", [{"name": "x"}]])
def test_a_body_that_is_not_an_object_is_422(api, bot, body):
    response = api.client.patch(
        f"/api/bots/{bot.pk}",
        data=json.dumps(body),
        content_type="application/json",
        headers=api.headers,
    )

    assert response.status_code == 422
    assert "JSON object" in response.json()["errors"][0]["message"]
    bot.refresh_from_db()
    assert bot.name == "eth-grid"


def test_a_name_with_a_nul_byte_is_422_not_a_database_error(api, account, market):
    response = api.post("/api/bots", _new_bot(account, market, name="bad\x00name"))

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["name"]
