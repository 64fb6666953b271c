"""Dashboard pages and control POSTs: staff only, CSRF, confirmation, same services as admin."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from bots import selectors, services
from bots.models import Bot, BotEvent, GridBot, HedgeBot
from tests.lighterweb.factories import (
    make_account,
    make_bot,
    make_hedge_bot,
    make_market,
    role_group,
)

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture(autouse=True)
def _test_redis(settings, redis_url):  # type: ignore[no-untyped-def]
    # Controls look for a live runner's lease in Redis: use the test database, not the real one.
    settings.REDIS_URL = redis_url


def _client(*, is_staff: bool, enforce_csrf: bool = False, role: str = "operator") -> Client:
    user = get_user_model().objects.create_user(
        username=f"user-{is_staff}-{enforce_csrf}-{role}",
        password="pw-long-enough-1",
        is_staff=is_staff,
    )
    user.groups.add(role_group(role))
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(user)
    return client


@pytest.fixture
def staff() -> Client:
    return _client(is_staff=True)


@pytest.fixture
def bot() -> GridBot:
    return make_bot(make_account(), make_market())


def _page_urls(bot: GridBot) -> list[str]:
    return ["/dashboard/", f"/dashboard/bots/{bot.pk}/"]


def test_anonymous_user_is_sent_to_the_login_page(bot):
    for url in _page_urls(bot):
        response = Client().get(url)

        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]


def test_non_staff_user_cannot_see_the_pages(bot):
    client = _client(is_staff=False)

    for url in _page_urls(bot):
        response = client.get(url)

        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]


def test_overview_page_opens_its_websocket_and_offers_global_controls(staff, bot):
    page = staff.get("/dashboard/").content.decode()

    assert 'data-ws-path="/ws/dashboard/"' in page
    assert 'id="lw-emergency-stop-all"' in page
    assert bot.market.symbol in page  # the per-symbol cancel-all choice


def test_bot_page_opens_the_bots_websocket_with_every_control(staff, bot):
    page = staff.get(f"/dashboard/bots/{bot.pk}/").content.decode()

    assert f'data-ws-path="/ws/bots/{bot.pk}/"' in page
    for action in ("start", "pause", "stop", "emergency-stop", "cancel-all"):
        assert f'id="action-{action}"' in page
    assert "lightweight-charts" in page


def test_unknown_bot_page_is_not_found(staff):
    assert staff.get("/dashboard/bots/999999/").status_code == 404


def test_admin_header_links_to_the_dashboard(staff):
    page = staff.get("/admin/").content.decode()

    assert 'href="/dashboard/" id="lw-dashboard-link"' in page


def test_start_calls_the_start_service_and_answers_json(staff, bot):
    response = staff.post(f"/dashboard/bots/{bot.pk}/start/", {"confirmed": "1"}, **JSON)

    assert response.status_code == 200
    assert "start requested" in response.json()["detail"]
    bot.refresh_from_db()
    assert bot.desired_state == "running"
    assert "(dashboard)" in BotEvent.objects.get(bot=bot, kind="start").message


def test_unconfirmed_action_changes_nothing(staff, bot):
    response = staff.post(f"/dashboard/bots/{bot.pk}/start/", {}, **JSON)

    assert response.status_code == 400
    bot.refresh_from_db()
    assert bot.desired_state == "stopped"


def test_post_without_csrf_token_is_forbidden(bot):
    client = _client(is_staff=True, enforce_csrf=True)

    response = client.post(f"/dashboard/bots/{bot.pk}/start/", {"confirmed": "1"}, **JSON)

    assert response.status_code == 403
    bot.refresh_from_db()
    assert bot.desired_state == "stopped"


def test_non_staff_post_is_refused(bot):
    client = _client(is_staff=False)

    client.post(f"/dashboard/bots/{bot.pk}/start/", {"confirmed": "1"}, **JSON)

    bot.refresh_from_db()
    assert bot.desired_state == "stopped"


def test_refused_action_answers_conflict_with_the_reason(staff, bot):
    response = staff.post(f"/dashboard/bots/{bot.pk}/pause/", {"confirmed": "1"}, **JSON)

    assert response.status_code == 409
    assert "not running" in response.json()["detail"]


def test_unknown_action_is_not_found(staff, bot):
    response = staff.post(f"/dashboard/bots/{bot.pk}/explode/", {"confirmed": "1"}, **JSON)

    assert response.status_code == 404


def test_plain_form_post_redirects_back_to_the_bot_page(staff, bot):
    response = staff.post(f"/dashboard/bots/{bot.pk}/emergency-stop/", {"confirmed": "1"})

    assert response.status_code == 302
    assert response["Location"] == f"/dashboard/bots/{bot.pk}/"
    bot.refresh_from_db()
    assert bot.cancel_all_requested_at is not None


def test_pages_only_answer_get(staff, bot):
    assert staff.post("/dashboard/").status_code == 405


def test_emergency_stop_all_stops_every_active_bot(staff):
    account = make_account()
    bots = [
        make_bot(account, make_market(market_id=0, symbol="ETH")),
        make_bot(account, make_market(market_id=1, symbol="BTC", last_price=Decimal("90000"))),
    ]
    for bot in bots:
        services.bot_start(bot, actor="test")

    response = staff.post("/dashboard/emergency-stop/", {"confirmed": "1", "scope": "all"}, **JSON)

    assert response.status_code == 200
    assert "2 bots stopped" in response.json()["detail"]
    assert set(GridBot.objects.values_list("desired_state", flat=True)) == {"stopped"}


def _running_grid_and_hedge() -> tuple[GridBot, HedgeBot]:
    maker, taker = make_account(), make_account(name="taker")
    eth = make_market(market_id=0, symbol="ETH")
    grid = make_bot(maker, make_market(market_id=1, symbol="BTC", last_price=Decimal("90000")))
    hedge = make_hedge_bot(maker, taker, eth, size=Decimal("0.01"))
    for started in (grid, hedge):
        services.bot_start(started, actor="test")
    return grid, hedge


def test_emergency_stop_all_stops_hedge_bots_too(staff):
    """One click stops everything: a hedge bot left running would place A's order again right
    after the account-wide cancel (seen on paper: '3 bots stopped' with the hedge still on)."""
    _grid, hedge = _running_grid_and_hedge()

    response = staff.post("/dashboard/emergency-stop/", {"confirmed": "1", "scope": "all"}, **JSON)

    assert response.status_code == 200
    assert "2 bots stopped" in response.json()["detail"]
    hedge.refresh_from_db()
    assert hedge.desired_state == "stopped"
    assert set(Bot.objects.values_list("desired_state", flat=True)) == {"stopped"}


def test_site_status_counts_every_kind_of_bot():
    _running_grid_and_hedge()

    status = selectors.site_status()

    assert sum(status.bots_by_desired_state.values()) == 2
    assert status.bots_by_desired_state["running"] == 2


def test_cancel_all_stops_a_running_hedge_bot_on_the_account():
    """Cancel-all promises nothing is placed again until Start: a hedge bot trading on the
    account (either leg) is stopped (it does not pause; its runner went on placing A's order:
    tests/bots/test_hedge_runner.py), the grids are paused."""
    grid, hedge = _running_grid_and_hedge()

    services.cancel_all(hedge.taker_account, None, actor="op")
    services.cancel_all(grid.account, None, actor="op")

    hedge.refresh_from_db()
    grid.refresh_from_db()
    assert (hedge.desired_state, grid.desired_state) == ("stopped", "paused")


def test_a_hedge_bot_refuses_pause_and_says_what_to_do_instead(staff):
    # Its runner never paused (it must go on hedging A's fills): "pause requested" and a
    # desired state of "paused" while it went on trading.
    _grid, hedge = _running_grid_and_hedge()

    with pytest.raises(services.BotActionRefused, match="does not pause: Stop it instead"):
        services.bot_pause(hedge, actor="op")
    page = staff.get(f"/dashboard/hedge/{hedge.pk}/")
    assert 'id="action-pause"' not in page.text
    hedge.refresh_from_db()
    assert hedge.desired_state == "running"


def test_hedge_bots_marked_paused_before_are_running_again():
    # What the runner did all along; migration 0018.
    import importlib

    from django.apps import apps

    migration = importlib.import_module("bots.migrations.0018_hedge_bots_do_not_pause")
    grid, hedge = _running_grid_and_hedge()
    Bot.objects.filter(pk__in=[grid.pk, hedge.pk]).update(desired_state="paused")

    migration.paused_hedges_run(apps, None)

    assert dict(Bot.objects.values_list("pk", "desired_state")) == {
        grid.pk: "paused", hedge.pk: "running"}  # fmt: skip


def test_unconfirmed_emergency_stop_all_changes_nothing(staff, bot):
    services.bot_start(bot, actor="test")

    response = staff.post("/dashboard/emergency-stop/", {}, **JSON)

    assert response.status_code == 400
    bot.refresh_from_db()
    assert bot.desired_state == "running"


def test_cancel_all_for_one_symbol_pauses_only_that_symbols_running_bot(staff):
    account = make_account()
    eth = make_bot(account, make_market(market_id=0, symbol="ETH"))
    btc_market = make_market(market_id=1, symbol="BTC", last_price=Decimal("90000"))
    btc = make_bot(account, btc_market)
    for bot in (eth, btc):
        services.bot_start(bot, actor="test")

    response = staff.post(
        "/dashboard/cancel-all/",
        {"confirmed": "1", "account_id": str(account.pk), "market_id": str(btc_market.pk)},
        **JSON,
    )

    assert response.status_code == 200
    eth.refresh_from_db()
    btc.refresh_from_db()
    assert (eth.desired_state, btc.desired_state) == ("running", "paused")


def test_cancel_all_with_an_unknown_account_is_not_found(staff):
    response = staff.post(
        "/dashboard/cancel-all/", {"confirmed": "1", "account_id": "999999"}, **JSON
    )

    assert response.status_code == 404


@pytest.mark.parametrize("form", [{"confirmed": "1"}, {"confirmed": "1", "scope": "everything"}])
def test_emergency_stop_all_without_scope_all_changes_nothing(staff, bot, form):
    services.bot_start(bot, actor="test")

    response = staff.post("/dashboard/emergency-stop/", form, **JSON)

    assert response.status_code == 400
    bot.refresh_from_db()
    assert bot.desired_state == "running"


@pytest.mark.parametrize(
    "form",
    [{"confirmed": "1"}, {"confirmed": "1", "account_id": "", "market_id": ""}],
    ids=["no fields", "blank fields"],
)
def test_cancel_all_without_a_scope_changes_nothing(staff, bot, form):
    services.bot_start(bot, actor="test")

    response = staff.post("/dashboard/cancel-all/", form, **JSON)

    assert response.status_code == 400
    bot.refresh_from_db()
    assert bot.desired_state == "running"


def test_cancel_all_of_everything_is_the_explicit_all_choice(staff, bot):
    services.bot_start(bot, actor="test")

    response = staff.post(
        "/dashboard/cancel-all/",
        {"confirmed": "1", "account_id": "all", "market_id": "all"},
        **JSON,
    )

    assert response.status_code == 200
    bot.refresh_from_db()
    assert bot.desired_state == "paused"
