"""API hedge bot CRUD and controls through bots.services: 422 naming the field, 404, 409."""
# ruff: noqa: F811 - pytest fixtures imported from tests.bots.api_helpers

from decimal import Decimal

import pytest

from bots.engine.leases import BotLease
from bots.models import BotEvent, HedgeBot
from exchange.redis_clients import redis_client
from tests.bots.api_helpers import account, api, market, staff  # noqa: F401 - fixtures
from tests.lighterweb.factories import make_account, make_bot, make_hedge_bot

pytestmark = pytest.mark.django_db


@pytest.fixture
def taker():
    return make_account(name="taker", account_index=8)


def _new_hedge(maker, taker, market, **overrides):
    return {
        "name": "eth-hedge",
        "account_id": maker.pk,
        "taker_account_id": taker.pk,
        "market_id": market.pk,
        "size": "0.01",
        "hold_min_ms": 1000,
        "hold_max_ms": 3000,
    } | overrides


def test_create_returns_201_and_a_stopped_hedge_bot(api, account, taker, market):
    response = api.post("/api/hedge-bots", _new_hedge(account, taker, market))

    assert response.status_code == 201, response.json()
    row = response.json()
    assert (row["desired_state"], row["size"], row["taker_account_name"]) == (
        "stopped",
        "0.01",
        "taker",
    )
    bot = HedgeBot.objects.get(pk=row["id"])
    assert "alice" in BotEvent.objects.get(bot=bot, kind="created").message


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"size": "0.001"}, "size"),
        ({"leverage_a": "99"}, "leverage_a"),
        ({"hold_max_ms": 10}, "hold_max_ms"),
        ({"max_slippage_bps": "10000"}, "max_slippage_bps"),
        ({"book_level": 40000}, "book_level"),
        ({"direction": "sideways"}, "direction"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(api, account, taker, market, overrides, field):
    response = api.post("/api/hedge-bots", _new_hedge(account, taker, market, **overrides))

    assert response.status_code == 422
    assert field in {e["field"] for e in response.json()["errors"]}
    assert not HedgeBot.objects.exists()


def test_same_account_on_both_legs_is_a_taker_account_error(api, account, market):
    response = api.post("/api/hedge-bots", _new_hedge(account, account, market))

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["taker_account"]


def test_an_unknown_taker_account_is_a_field_error(api, account, market):
    response = api.post(
        "/api/hedge-bots", _new_hedge(account, account, market, taker_account_id=999999)
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["taker_account_id"]


def test_accounts_of_two_networks_are_refused(api, account, market):
    mainnet = make_account(name="mainnet-b", network="mainnet", account_index=9)

    response = api.post("/api/hedge-bots", _new_hedge(account, mainnet, market))

    assert response.status_code == 422
    assert "same network" in response.json()["errors"][0]["message"]


def test_get_list_patch_delete(api, account, taker, market):
    bot = make_hedge_bot(account, taker, market)

    assert api.get(f"/api/hedge-bots/{bot.pk}").json()["name"] == bot.name
    assert [r["id"] for r in api.get("/api/hedge-bots", account_id=taker.pk).json()] == [bot.pk]
    patched = api.patch(f"/api/hedge-bots/{bot.pk}", {"direction": "short"})
    assert patched.status_code == 200
    assert patched.json()["direction"] == "short"
    assert api.delete(f"/api/hedge-bots/{bot.pk}").status_code == 204
    assert api.get(f"/api/hedge-bots/{bot.pk}").status_code == 404


def test_a_grid_id_is_not_a_hedge_bot(api, account, market):
    grid = make_bot(account, market)

    assert api.get(f"/api/hedge-bots/{grid.pk}").status_code == 404


def test_patch_of_a_running_hedge_bot_is_409(api, account, taker, market):
    bot = make_hedge_bot(account, taker, market)
    HedgeBot.objects.filter(pk=bot.pk).update(desired_state="running")

    response = api.patch(f"/api/hedge-bots/{bot.pk}", {"size": "0.02"})

    assert response.status_code == 409


def test_patch_of_a_running_hedge_bots_stop_loss_is_saved(api, account, taker, market):
    # Its runner applies it at once (tests/bots/test_hedge_runner.py); a bad value is a 422
    # naming the field, and nothing else may change meanwhile.
    bot = make_hedge_bot(account, taker, market)
    HedgeBot.objects.filter(pk=bot.pk).update(desired_state="running")
    size = bot.size

    response = api.patch(f"/api/hedge-bots/{bot.pk}", {"stop_loss_quote": "12.5"})
    assert response.status_code == 200, response.json()
    assert response.json()["stop_loss_quote"] == "12.5"
    refused = api.patch(f"/api/hedge-bots/{bot.pk}", {"stop_loss_quote": "-1"})
    assert refused.status_code == 422
    assert "stop_loss_quote" in str(refused.json())
    both = api.patch(f"/api/hedge-bots/{bot.pk}", {"stop_loss_quote": "5", "size": "0.02"})
    assert both.status_code == 409
    bot.refresh_from_db()
    assert (bot.stop_loss_quote, bot.size) == (Decimal("12.5"), size)


def test_pause_of_a_hedge_bot_is_409_saying_to_stop_it(api, account, taker, market):
    bot = make_hedge_bot(account, taker, market)
    HedgeBot.objects.filter(pk=bot.pk).update(desired_state="running")

    response = api.post(f"/api/hedge-bots/{bot.pk}/pause")

    assert response.status_code == 409
    assert "does not pause: Stop it instead" in response.json()["detail"]
    bot.refresh_from_db()
    assert bot.desired_state == "running"


def test_start_answers_with_the_running_desired_state(api, account, taker, market):
    bot = make_hedge_bot(account, taker, market)

    response = api.post(f"/api/hedge-bots/{bot.pk}/start")

    assert response.status_code == 200
    assert response.json()["bots"][0]["desired_state"] == "running"


def test_start_on_a_taker_account_in_use_is_409_naming_the_leg(api, account, taker, market):
    make_bot(taker, market, desired_state="running")
    bot = make_hedge_bot(account, taker, market)

    response = api.post(f"/api/hedge-bots/{bot.pk}/start")

    assert response.status_code == 409
    assert "taker_account: another grid is already active" in response.json()["detail"]


def test_stop_of_a_running_hedge_bot_answers_with_the_bot(api, account, taker, market):
    bot = make_hedge_bot(account, taker, market)
    HedgeBot.objects.filter(pk=bot.pk).update(desired_state="running", status="running")

    response = api.post(f"/api/hedge-bots/{bot.pk}/stop")

    assert response.status_code == 200
    assert response.json()["bots"][0]["desired_state"] == "stopped"


def test_ids_beyond_64_bits_are_422(api):
    assert api.get(f"/api/hedge-bots/{2**70}").status_code == 422


def test_stop_with_a_malformed_close_positions_is_422_naming_it(api, account, taker, market):
    bot = make_hedge_bot(account, taker, market)
    response = api.post(f"/api/hedge-bots/{bot.pk}/stop", {"close_positions": "maybe"})
    assert response.status_code == 422
    assert "close_positions" in str(response.json())


def test_stop_with_close_positions_asks_the_runner_to_close_both_legs(
    api, account, taker, market, settings, redis_url
):
    settings.REDIS_URL = redis_url
    bot = make_hedge_bot(account, taker, market)
    HedgeBot.objects.filter(pk=bot.pk).update(desired_state="running", status="running")
    lease = BotLease(redis_client(redis_url), bot.pk)  # a live runner holds the lease
    assert lease.acquire() is not None
    try:
        response = api.post(
            f"/api/hedge-bots/{bot.pk}/stop", {"close_positions": True})  # fmt: skip
    finally:
        lease.release()
    assert response.status_code == 200, response.json()
    assert "close both legs" in response.json()["detail"]
    assert response.json()["bots"][0]["desired_state"] == "stopped"
    event = BotEvent.objects.filter(bot=bot).latest("id")
    assert (event.kind, event.data["close_positions"]) == ("stop_close", True)


def test_plain_stop_records_no_close(api, account, taker, market):
    bot = make_hedge_bot(account, taker, market)
    HedgeBot.objects.filter(pk=bot.pk).update(desired_state="running", status="running")
    response = api.post(f"/api/hedge-bots/{bot.pk}/stop", {"close_positions": False})
    assert response.status_code == 200
    assert not BotEvent.objects.filter(bot=bot, kind="stop_close").exists()
