"""The hedge bot's dashboard page: both legs side by side, the net exposure green within the
tolerance and red beyond, the events; the overview lists hedge bots; controls call the services."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from bots import hedge_selectors, ownership
from bots.engine.leases import BotLease
from bots.models import BotEvent, ExchangeAccount, HedgeBot
from exchange.redis_clients import redis_client
from tests.lighterweb.factories import make_account, make_hedge_bot, make_market, role_group

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture(autouse=True)
def _test_redis(settings, redis_url):  # type: ignore[no-untyped-def]
    settings.REDIS_URL = redis_url


@pytest.fixture
def staff() -> Client:
    user = get_user_model().objects.create_user(
        username="operator", password="pw-long-enough-1", is_staff=True
    )
    user.groups.add(role_group("operator"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def hedge() -> HedgeBot:
    maker = make_account(name="maker")
    taker = make_account(name="taker", account_index=8)
    return make_hedge_bot(maker, taker, make_market(), name="eth-hedge")


def _positions(account: ExchangeAccount, side: str, size: str) -> None:
    account.last_check_summary = {"positions": [{"symbol": "ETH", "side": side, "size": size}]}
    account.last_checked_at = timezone.now()
    account.save(update_fields=["last_check_summary", "last_checked_at"])


def test_the_page_shows_both_legs_and_a_balanced_net_in_green(staff, hedge):
    _positions(hedge.account, "long", "0.0100")
    _positions(hedge.taker_account, "short", "0.0100")
    BotEvent.objects.create(bot=hedge, kind="hedged", message="B caught up <b>")

    response = staff.get(f"/dashboard/hedge/{hedge.pk}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "maker" in page and "taker" in page
    assert 'class="lw-net-ok"' in page
    assert "B caught up &lt;b&gt;" in page  # escaped


def test_a_net_beyond_the_tolerance_shows_in_red(staff, hedge):
    _positions(hedge.account, "long", "0.0100")
    _positions(hedge.taker_account, "short", "0.0040")

    page = staff.get(f"/dashboard/hedge/{hedge.pk}/").content.decode()

    assert 'class="lw-net-bad"' in page
    assert "0.0060" in page


def test_figures_show_on_the_markets_decimals_with_units(staff, hedge):
    """Not `0.0049000000` (the model's ten decimals): sizes on the market's size decimals with
    the base unit, the entry on its price decimals in USDC."""
    hedge.imbalance_tolerance_base = "0.0049"
    hedge.save(update_fields=["imbalance_tolerance_base"])
    hedge.account.last_check_summary = {
        "positions": [
            {"symbol": "ETH", "side": "long", "size": "0.0100", "avg_entry_price": "3001.5"}
        ]
    }
    hedge.account.last_checked_at = timezone.now()
    hedge.account.save(update_fields=["last_check_summary", "last_checked_at"])
    _positions(hedge.taker_account, "short", "0.0100")

    page = staff.get(f"/dashboard/hedge/{hedge.pk}/").content.decode()

    assert "(tolerance 0.0049 ETH)" in page
    assert "0.0100 ETH" in page and "-0.0100 ETH" in page and "0.0000 ETH" in page
    assert "3001.50 USDC" in page
    assert "0000000" not in page


def test_an_account_never_checked_leaves_the_net_unknown(staff, hedge):
    page = staff.get(f"/dashboard/hedge/{hedge.pk}/").content.decode()

    assert 'class="lw-net-unknown"' in page


def test_the_overview_lists_hedge_bots(staff, hedge):
    page = staff.get("/dashboard/").content.decode()

    assert f'href="/dashboard/hedge/{hedge.pk}/"' in page


def test_an_unknown_hedge_bot_is_not_found(staff):
    assert staff.get("/dashboard/hedge/999999/").status_code == 404


def test_stop_control_calls_the_stop_service(staff, hedge):
    HedgeBot.objects.filter(pk=hedge.pk).update(desired_state="running", status="running")

    response = staff.post(f"/dashboard/hedge/{hedge.pk}/stop/", {"confirmed": "1"}, **JSON)

    assert response.status_code == 200, response.json()
    hedge.refresh_from_db()
    assert hedge.desired_state == "stopped"


def test_start_control_calls_the_start_service(staff, hedge):
    response = staff.post(f"/dashboard/hedge/{hedge.pk}/start/", {"confirmed": "1"}, **JSON)

    assert response.status_code == 200, response.json()
    hedge.refresh_from_db()
    assert hedge.desired_state == "running"


def test_unconfirmed_action_changes_nothing(staff, hedge):
    response = staff.post(f"/dashboard/hedge/{hedge.pk}/stop/", **JSON)

    assert response.status_code == 400


def test_stop_and_close_is_a_confirmed_button_of_its_own(staff, hedge):
    page = staff.get(f"/dashboard/hedge/{hedge.pk}/").content.decode()
    assert 'id="action-stop-close"' in page
    assert "Both legs are closed at market." in page  # the confirm dialog says so

    response = staff.post(f"/dashboard/hedge/{hedge.pk}/stop-close/", **JSON)  # not confirmed

    assert response.status_code == 400
    assert not BotEvent.objects.filter(bot=hedge, kind="stop_close").exists()


def test_stop_and_close_control_asks_the_runner_to_close_both_legs(staff, hedge, redis_url):
    HedgeBot.objects.filter(pk=hedge.pk).update(desired_state="running", status="running")
    lease = BotLease(redis_client(redis_url), hedge.pk)  # a live runner holds the lease
    assert lease.acquire() is not None
    try:
        response = staff.post(
            f"/dashboard/hedge/{hedge.pk}/stop-close/", {"confirmed": "1"}, **JSON
        )
    finally:
        lease.release()

    assert response.status_code == 200, response.json()
    hedge.refresh_from_db()
    assert hedge.desired_state == "stopped"
    assert BotEvent.objects.filter(bot=hedge, kind="stop_close").exists()


def test_a_leg_checked_only_by_its_runner_shows_when_the_runner_read_its_positions(staff, hedge):
    account = hedge.taker_account
    read_at = timezone.now().replace(microsecond=0)
    account.last_check_summary = {
        "positions": [{"symbol": "ETH", "side": "short", "size": "0.0100"}],
        ownership.POSITIONS_AT: read_at.isoformat(),
    }
    account.save(update_fields=["last_check_summary"])

    view = hedge_selectors.hedge_view(HedgeBot.objects.get(pk=hedge.pk))

    assert view.legs[1].checked_at == read_at
    assert view.legs[0].checked_at is None  # never checked at all


def test_a_stopped_hedge_bot_shows_no_state_of_its_last_run(staff, hedge):
    """Before, a stopped bot showed the snapshot its last run left ("opening for 5400 s")."""
    snapshot = {
        "state": "opening",
        "entered_ms": int(timezone.now().timestamp() * 1000) - 5_400_000,
    }
    HedgeBot.objects.filter(pk=hedge.pk).update(strategy_snapshot=snapshot, status="stopped")
    hedge.refresh_from_db()

    assert hedge_selectors.hedge_live(hedge)["state"] is None
    page = staff.get(f"/dashboard/hedge/{hedge.pk}/").content.decode()
    assert "opening" not in page

    HedgeBot.objects.filter(pk=hedge.pk).update(status="running")
    hedge.refresh_from_db()
    assert hedge_selectors.hedge_live(hedge)["state"] == "opening"
