"""Roles (viewer, operator, admin) mean the same in the admin, the API and the dashboard: a
viewer reads, an operator controls and edits bots, an admin also manages accounts; staff alone
grants nothing. The websocket side is in test_consumers.py."""
# ruff: noqa: F811 - pytest fixtures imported from tests.bots.api_helpers

import pytest
from django.test import Client
from django.urls import reverse

from bots.models import GridBot
from lighterweb.models import ApiToken
from tests.bots.api_helpers import Api, account, bot, market  # noqa: F401 - fixtures
from tests.lighterweb.factories import make_user

pytestmark = pytest.mark.django_db

ROLES = [None, "viewer", "operator", "admin"]


@pytest.fixture(autouse=True)
def _test_redis(settings, redis_url):
    settings.REDIS_URL = redis_url
    settings.CELERY_BROKER_URL = redis_url


def _api(role, *, read_only=False):
    user = make_user(f"user-{role}-{read_only}", role=role)
    token, raw = ApiToken.issue(user, "tests")
    ApiToken.objects.filter(pk=token.pk).update(read_only=read_only)
    return Api(raw)


def _browser(role):
    client = Client()
    client.force_login(make_user(f"web-{role}", role=role))
    return client


# role -> may it (read, control, create a bot)
ALLOWED = {
    None: (False, False, False),
    "viewer": (True, False, False),
    "operator": (True, True, True),
    "admin": (True, True, True),
}


@pytest.mark.parametrize("role", ROLES, ids=str)
@pytest.mark.parametrize(
    "url", ["/api/bots", "/api/accounts", "/api/orders", "/api/events", "/api/status"]
)
def test_api_reads_need_a_role(role, url, bot):
    response = _api(role).get(url)

    assert response.status_code == (200 if ALLOWED[role][0] else 403)


@pytest.mark.parametrize("role", ROLES, ids=str)
@pytest.mark.parametrize("action", ["start", "emergency-stop", "cancel-all"])
def test_api_bot_controls_need_the_control_permission(role, action, bot):
    response = _api(role).post(f"/api/bots/{bot.pk}/{action}")

    assert response.status_code == (200 if ALLOWED[role][1] else 403)
    if not ALLOWED[role][1]:
        assert response.json()["code"] == "forbidden"
        bot.refresh_from_db()
        assert bot.desired_state == "stopped" and bot.cancel_all_requested_at is None


@pytest.mark.parametrize("role", ROLES, ids=str)
@pytest.mark.parametrize(
    ("url", "body"),
    [("/api/emergency-stop", {"scope": "all"}), ("/api/cancel-all", {"scope": "all"})],
)
def test_api_global_controls_need_the_control_permission(role, url, body, bot):
    GridBot.objects.filter(pk=bot.pk).update(desired_state="running")

    response = _api(role).post(url, body)

    assert response.status_code == (200 if ALLOWED[role][1] else 403)
    bot.refresh_from_db()
    assert (bot.desired_state == "running") is not ALLOWED[role][1]


@pytest.mark.parametrize("role", ROLES, ids=str)
def test_api_bot_edits_need_the_bot_permissions(role, bot):
    api = _api(role)

    patched = api.patch(f"/api/bots/{bot.pk}", {"name": "renamed"})
    deleted = api.delete(f"/api/bots/{bot.pk}")

    expected = (200, 204) if ALLOWED[role][2] else (403, 403)
    assert (patched.status_code, deleted.status_code) == expected


def test_a_read_only_token_of_an_admin_reads_but_changes_nothing(bot):
    api = _api("admin", read_only=True)

    assert api.get("/api/bots").status_code == 200
    response = api.post(f"/api/bots/{bot.pk}/start")

    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]
    bot.refresh_from_db()
    assert bot.desired_state == "stopped"


@pytest.mark.parametrize("role", ROLES, ids=str)
@pytest.mark.parametrize("action", ["start", "emergency_stop", "cancel_all"])
def test_admin_bot_actions_need_the_control_permission(role, action, bot):
    client = _browser(role)

    client.post(
        reverse("admin:bots_gridbot_changelist"),
        {"action": action, "_selected_action": [bot.pk]},
    )

    bot.refresh_from_db()
    acted = bot.desired_state != "stopped" or bot.cancel_all_requested_at is not None
    assert acted is ALLOWED[role][1]


@pytest.mark.parametrize("role", ROLES, ids=str)
def test_admin_only_offers_the_actions_a_role_may_run(role, bot):
    response = _browser(role).get(reverse("admin:bots_gridbot_changelist"))

    if not ALLOWED[role][0]:
        assert response.status_code == 403
        return
    offered = 'value="start"' in response.text
    assert offered is ALLOWED[role][1]


@pytest.mark.parametrize(
    ("role", "may"), [(None, False), ("viewer", False), ("operator", False), ("admin", True)]
)
def test_admin_account_actions_need_the_admin_role(role, may, account):
    response = _browser(role).get(reverse("admin:bots_exchangeaccount_changelist"))

    if role is None:
        assert response.status_code == 403
        return
    assert ('value="sync_markets"' in response.text) is may


@pytest.mark.parametrize("role", ROLES, ids=str)
def test_dashboard_pages_need_a_role(role, bot):
    client = _browser(role)

    for url in ("/dashboard/", f"/dashboard/bots/{bot.pk}/"):
        assert client.get(url).status_code == (200 if ALLOWED[role][0] else 403)


@pytest.mark.parametrize("role", ROLES, ids=str)
@pytest.mark.parametrize(
    ("url_of", "form", "before"),
    [
        (lambda bot: f"/dashboard/bots/{bot.pk}/start/", {"confirmed": "1"}, "paused"),
        (lambda bot: "/dashboard/emergency-stop/", {"confirmed": "1", "scope": "all"}, "running"),
        (lambda bot: "/dashboard/cancel-all/", {"confirmed": "1", "account_id": "all"}, "running"),
    ],
    ids=["start", "emergency stop all", "cancel all"],
)
def test_dashboard_controls_need_the_control_permission(role, url_of, form, before, bot):
    GridBot.objects.filter(pk=bot.pk).update(desired_state=before)

    response = _browser(role).post(url_of(bot), form, HTTP_ACCEPT="application/json")

    bot.refresh_from_db()
    assert response.status_code == (200 if ALLOWED[role][1] else 403)
    assert (bot.desired_state != before) is ALLOWED[role][1]


def test_a_viewer_sees_no_control_buttons_on_the_dashboard(bot):
    client = _browser("viewer")

    assert 'id="action-start"' not in client.get(f"/dashboard/bots/{bot.pk}/").text
    assert 'id="lw-emergency-stop-all"' not in client.get("/dashboard/").text


@pytest.mark.parametrize(
    ("role", "may_view", "may_run"),
    [
        (None, False, False),
        ("viewer", True, False),
        ("operator", True, True),
        ("admin", True, True),
    ],
)
def test_backtests_follow_the_roles(role, may_view, may_run, bot):
    """The backtest models arrived after the roles' migration: the post-migrate sync gives them to
    the roles (before it, only superusers saw backtests and candles)."""
    user = make_user(f"bt-{role}", role=role)
    client = _browser(role)

    for name in ("backtest", "backtestsweep", "candle"):
        page = client.get(reverse(f"admin:bots_{name}_changelist"))
        assert (page.status_code == 200) == may_view, (name, page.status_code)
    assert user.has_perm("bots.add_backtest") == may_run
    assert user.has_perm("bots.add_backtestsweep") == may_run
    assert user.has_perm("bots.add_candle") == may_run
    assert not user.has_perm("bots.change_candle")
