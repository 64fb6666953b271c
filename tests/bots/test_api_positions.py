"""The positions API (README "Positions"): a live read, a close that answers what is left, and
refusals as 4xx naming the field."""
# ruff: noqa: F811 - pytest fixtures imported from tests.bots.api_helpers

from decimal import Decimal

import pytest

from bots.models import DesiredState
from exchange.types import OrderSide
from lighterweb.models import ApiToken, AuditEntry
from tests.bots.api_helpers import Api, api, staff  # noqa: F401
from tests.bots.test_positions import account_on, eth, open_position, own, venue_position
from tests.lighterweb.factories import make_bot, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(simulator, funded_account):
    account = account_on(simulator, funded_account)
    eth()
    open_position(account, OrderSide.BUY, "0.2")
    return account


def test_the_read_lists_the_position_with_its_figures_as_strings(api, account):
    response = api.get(f"/api/accounts/{account.pk}/positions")

    assert response.status_code == 200
    [row] = response.json()
    assert (row["symbol"], row["size"], row["side"], row["unattributed"]) == (
        "ETH", "0.2", "long", "0.2"
    )  # fmt: skip
    assert set(row) >= {"entry_price", "mark_price", "liquidation_price", "leverage", "owners"}


def test_a_close_answers_what_is_left_and_is_audited(api, account):
    response = api.post(f"/api/accounts/{account.pk}/positions/0/close", {"confirm": True})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["remaining_size"], body["closed_size"]) == ("closed", "0", "0.2")
    assert venue_position(account) == 0
    assert AuditEntry.objects.filter(action="position_close").exists()


def test_an_unconfirmed_close_is_a_400_naming_confirm(api, account):
    response = api.post(f"/api/accounts/{account.pk}/positions/0/close", {})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "confirm"
    assert venue_position(account) == Decimal("0.2")


def test_a_close_under_a_running_bot_is_a_409_naming_it(api, account):
    bot = make_bot(account, eth(), name="busy-grid", desired_state=DesiredState.RUNNING)
    own(bot, "0.1")

    response = api.post(f"/api/accounts/{account.pk}/positions/0/close", {"confirm": True})

    assert response.status_code == 409
    assert "busy-grid" in response.json()["detail"]
    assert response.json()["errors"][0]["field"] == "include_bots"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"confirm": True, "max_slippage": "0.5"}, "max_slippage"),
        ({"confirm": True, "worst_price": "-1"}, "worst_price"),
        ({"confirm": True, "worst": "1"}, "worst"),
    ],
)
def test_bad_close_input_is_a_422_naming_the_field(api, account, body, field):
    response = api.post(f"/api/accounts/{account.pk}/positions/0/close", body)

    assert response.status_code == 422
    assert field in {e["field"] for e in response.json()["errors"]}


def test_a_tp_below_the_mark_of_a_long_is_a_400_naming_take_profit(api, account):
    response = api.post(
        f"/api/accounts/{account.pk}/positions/0/tpsl", {"confirm": True, "take_profit": "100"}
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "take_profit"


def test_a_viewer_may_read_but_not_close(account, redis_url, settings):
    settings.REDIS_URL = redis_url
    viewer = make_user("victor", role="viewer")
    _, raw = ApiToken.issue(viewer, "tests")
    client = Api(raw)

    assert client.get(f"/api/accounts/{account.pk}/positions").status_code == 200
    response = client.post(f"/api/accounts/{account.pk}/positions/0/close", {"confirm": True})
    assert response.status_code == 403
    assert venue_position(account) == Decimal("0.2")
