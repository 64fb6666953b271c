"""API control actions: each calls the lifecycle service, records who asked, refusals are 409."""
# ruff: noqa: F811 - pytest fixtures imported from tests.bots.api_helpers

import json

import pytest

from bots.models import BotEvent
from tests.bots.api_helpers import account, api, bot, market, staff  # noqa: F401 - fixtures
from tests.bots.runner_support import account_on

pytestmark = pytest.mark.django_db


def test_start_sets_desired_running_and_names_the_token_in_the_event(api, bot):
    response = api.post(f"/api/bots/{bot.pk}/start")

    assert response.status_code == 200
    [row] = response.json()["bots"]
    assert row["desired_state"] == "running"
    event = BotEvent.objects.get(bot=bot, kind="start")
    assert "alice (api token lw_" in event.message


def test_pause_then_stop(api, bot):
    api.post(f"/api/bots/{bot.pk}/start")

    assert api.post(f"/api/bots/{bot.pk}/pause").json()["bots"][0]["desired_state"] == "paused"
    assert api.post(f"/api/bots/{bot.pk}/stop").json()["bots"][0]["desired_state"] == "stopped"


def test_emergency_stop_requests_cancel_all_from_any_state(api, bot):
    row = api.post(f"/api/bots/{bot.pk}/emergency-stop").json()["bots"][0]

    assert row["desired_state"] == "stopped"
    assert row["cancel_all_requested_at"] is not None


def test_cancel_all_leaves_a_running_bot_paused(api, bot):
    api.post(f"/api/bots/{bot.pk}/start")

    row = api.post(f"/api/bots/{bot.pk}/cancel-all").json()["bots"][0]

    assert row["desired_state"] == "paused"
    assert row["cancel_all_requested_at"] is not None


@pytest.mark.parametrize(
    ("before", "action", "message"),
    [
        (["start"], "start", "already running"),
        ([], "pause", "not running"),
        ([], "stop", "already stopped"),
    ],
    ids=["start running", "pause stopped", "stop stopped"],
)
def test_refused_action_is_409_with_the_reason(api, bot, before, action, message):
    for step in before:
        api.post(f"/api/bots/{bot.pk}/{step}")

    response = api.post(f"/api/bots/{bot.pk}/{action}")

    assert response.status_code == 409
    assert response.json()["code"] == "refused"
    assert message in response.json()["detail"]


@pytest.mark.parametrize("action", ["start", "stop", "pause", "emergency-stop", "cancel-all"])
def test_control_of_unknown_bot_is_404(api, action):
    assert api.post(f"/api/bots/999/{action}").status_code == 404


def test_global_emergency_stop_stops_every_active_bot(api, bot):
    api.post(f"/api/bots/{bot.pk}/start")

    response = api.post("/api/emergency-stop", {"scope": "all"})

    assert response.status_code == 200
    bot.refresh_from_db()
    assert bot.desired_state == "stopped"
    assert [b["desired_state"] for b in response.json()["bots"]] == ["stopped"]


def test_cancel_all_per_symbol_pauses_running_bots_of_that_market(api, bot, market):
    api.post(f"/api/bots/{bot.pk}/start")

    response = api.post("/api/cancel-all", {"market_id": market.pk})

    assert response.status_code == 200
    assert "ETH" in response.json()["detail"]
    bot.refresh_from_db()
    assert bot.desired_state == "paused"


def test_cancel_all_of_unknown_account_is_404(api):
    assert api.post("/api/cancel-all", {"account_id": 999}).status_code == 404


def test_global_emergency_stop_reports_the_verified_cancel_of_each_account(
    api, simulator, funded_account
):
    signing = account_on(simulator, funded_account)

    body = api.post("/api/emergency-stop", {"scope": "all"}).json()

    assert body["verified"] is True
    [cancel] = body["cancels"]
    assert cancel["account_id"] == signing.pk
    assert cancel["exchange_market_id"] is None
    assert cancel["remaining"] == []
    assert cancel["seconds"] > 0  # the command to this account's verified answer


def test_cancel_all_without_any_signing_account_reports_nothing_verified(api, bot):
    body = api.post("/api/cancel-all", {"scope": "all"}).json()

    assert body["cancels"] == []
    assert body["verified"] is None


@pytest.mark.parametrize(
    "body",
    [{}, [{"account_id": 2}], True, 0, "all", None, {"acount_id": 1}, {"scope": "everything"}],
    ids=["empty", "list", "true", "zero", "string", "null", "misspelt field", "unknown scope"],
)
def test_cancel_all_without_an_explicit_scope_is_422_and_cancels_nothing(api, bot, body):
    api.post(f"/api/bots/{bot.pk}/start")

    response = api.client.post(
        "/api/cancel-all",
        data=json.dumps(body),
        content_type="application/json",
        headers=api.headers,
    )

    assert response.status_code == 422
    assert response.json()["code"] == "validation"
    bot.refresh_from_db()
    assert bot.desired_state == "running"


def test_cancel_all_names_the_missing_scope(api):
    response = api.post("/api/cancel-all", {})

    [error] = response.json()["errors"]
    assert "scope" in error["message"]


def test_cancel_all_refuses_scope_all_combined_with_an_account(api, account):
    response = api.post("/api/cancel-all", {"scope": "all", "account_id": account.pk})

    assert response.status_code == 422
    assert "account_id" in response.json()["errors"][0]["message"]


def test_cancel_all_of_one_bot_requests_its_cancel_and_pauses_it(api, bot):
    api.post(f"/api/bots/{bot.pk}/start")

    response = api.post("/api/cancel-all", {"bot_id": bot.pk})

    assert response.status_code == 200
    [row] = response.json()["bots"]
    assert row["desired_state"] == "paused"
    assert row["cancel_all_requested_at"] is not None


@pytest.mark.parametrize("body", [None, {}, {"scope": "bots"}, [], {"scope": "all", "x": 1}])
def test_global_emergency_stop_without_scope_all_is_422_and_stops_nothing(api, bot, body):
    api.post(f"/api/bots/{bot.pk}/start")

    response = api.client.post(
        "/api/emergency-stop",
        **({} if body is None else {"data": json.dumps(body)}),
        content_type="application/json",
        headers=api.headers,
    )

    assert response.status_code == 422
    bot.refresh_from_db()
    assert bot.desired_state == "running"
