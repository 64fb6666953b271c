"""The audit log: control actions, key changes, tokens and logins are recorded with actor, time
and source; the admin lists and filters them and can never delete one."""
# ruff: noqa: F811 - pytest fixtures imported from tests.bots.api_helpers

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from lighterweb.models import ApiToken, AuditEntry
from tests.bots.api_helpers import account, api, bot, market, staff  # noqa: F401 - fixtures
from tests.lighterweb.factories import api_key_hex, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _test_redis(settings, redis_url):
    settings.REDIS_URL = redis_url
    settings.CELERY_BROKER_URL = redis_url


def test_an_api_control_names_the_token_and_the_source(api, bot):
    api.post(f"/api/bots/{bot.pk}/start")

    entry = AuditEntry.objects.get(action="bot_start")
    assert entry.source == "api"
    assert entry.actor.startswith("alice (api token lw_")
    assert entry.target == bot.name
    assert entry.user.username == "alice"


def test_an_api_cancel_all_records_its_scope(api, bot):
    api.post("/api/cancel-all", {"scope": "all"})

    assert AuditEntry.objects.get(action="cancel_all").detail == "cancel all on every account"


def test_an_admin_action_is_recorded_per_bot(admin_client, bot):
    admin_client.post(
        reverse("admin:bots_gridbot_changelist"), {"action": "start", "_selected_action": [bot.pk]}
    )

    entry = AuditEntry.objects.get(action="bot_start")
    assert (entry.source, entry.actor, entry.target) == ("admin", "admin", bot.name)


def test_a_dashboard_control_is_recorded(admin_client, bot):
    admin_client.post(
        f"/dashboard/bots/{bot.pk}/emergency-stop/",
        {"confirmed": "1"},
        HTTP_ACCEPT="application/json",
    )

    entry = AuditEntry.objects.get(action="bot_emergency_stop")
    assert entry.source == "dashboard"


def test_a_key_change_names_the_field_never_the_key(admin_client, account):
    key = api_key_hex()

    admin_client.post(
        reverse("admin:bots_exchangeaccount_change", args=[account.pk]),
        {
            "name": account.name,
            "network": "paper",
            "tier": "standard",
            "account_index": "7",
            "api_key_index": "3",
            "api_private_key": key,
            "key_mode": "remember",
        },
    )

    entry = AuditEntry.objects.get(action="key_changed")
    assert entry.detail == "api_private_key"
    assert key[2:12] not in f"{entry.detail} {entry.data} {entry.target}"


def test_token_creation_and_revocation_are_recorded(admin_client, admin_user):
    admin_client.post(
        reverse("admin:lighterweb_apitoken_add"), {"user": admin_user.pk, "name": "backup"}
    )
    token = ApiToken.objects.get(name="backup")

    admin_client.post(
        reverse("admin:lighterweb_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )

    entries = AuditEntry.objects.exclude(action="login").order_by("pk")
    assert [entry.action for entry in entries] == ["token_created", "token_revoked"]
    assert all(token.prefix in entry.target for entry in entries)


def test_logins_and_failures_are_recorded_with_the_address():
    make_user("zed", role="viewer")
    Client(REMOTE_ADDR="10.1.2.3").post(
        "/admin/login/", {"username": "zed", "password": "not-the-password-1"}
    )
    Client(REMOTE_ADDR="10.1.2.4").post(
        "/admin/login/", {"username": "zed", "password": "pw-for-tests-only"}
    )

    rows = list(AuditEntry.objects.order_by("pk").values_list("action", "ip_address", "source"))
    assert rows == [("login_failed", "10.1.2.3", "login"), ("login", "10.1.2.4", "login")]


def test_the_admin_filters_the_log_and_cannot_delete_or_edit_it(admin_client, api, bot):
    api.post(f"/api/bots/{bot.pk}/start")
    api.post(f"/api/bots/{bot.pk}/stop")
    entry = AuditEntry.objects.get(action="bot_stop")
    changelist = reverse("admin:lighterweb_auditentry_changelist")

    filtered = admin_client.get(changelist, {"action": "bot_stop"})

    assert filtered.status_code == 200
    assert list(filtered.context["cl"].queryset) == [entry]
    assert 'value="delete_selected"' not in filtered.text
    delete = reverse("admin:lighterweb_auditentry_delete", args=[entry.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    change = reverse("admin:lighterweb_auditentry_change", args=[entry.pk])
    admin_client.post(change, {"action": "forged"})
    entry.refresh_from_db()
    assert entry.action == "bot_stop"


def test_a_viewer_cannot_read_the_audit_log():
    client = Client()
    client.force_login(make_user("val", role="viewer"))

    response = client.get(reverse("admin:lighterweb_auditentry_changelist"))

    assert response.status_code == 403
