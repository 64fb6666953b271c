"""API tokens: stored hashed, shown once in the admin, revocable, last use recorded."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from lighterweb.models import ApiToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return User.objects.create_user("alice", password="pw-for-tests-only", is_staff=True)


def test_issue_stores_only_the_hash_and_a_short_prefix(alice):
    token, raw = ApiToken.issue(alice, "script")

    token.refresh_from_db()
    assert raw.startswith("lw_")
    assert len(raw) > 40
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw.startswith(token.prefix)
    assert len(token.prefix) < len(raw) // 4
    assert raw not in repr(token) and raw not in str(token)


def test_two_tokens_never_share_a_secret(alice):
    _, first = ApiToken.issue(alice, "a")
    _, second = ApiToken.issue(alice, "b")

    assert first != second


def test_authenticate_finds_the_token_and_records_its_use(alice):
    token, raw = ApiToken.issue(alice, "script")

    found = ApiToken.authenticate(raw)

    assert found == token
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_last_use_is_written_at_most_once_a_minute(alice):
    token, raw = ApiToken.issue(alice, "script")
    earlier = timezone.now() - timedelta(seconds=10)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=earlier)

    ApiToken.authenticate(raw)

    token.refresh_from_db()
    assert token.last_used_at == earlier


def test_revoked_token_no_longer_authenticates(alice):
    token, raw = ApiToken.issue(alice, "script")

    token.revoke()

    assert ApiToken.authenticate(raw) is None


def test_token_of_a_deactivated_user_does_not_authenticate(alice):
    _, raw = ApiToken.issue(alice, "script")
    alice.is_active = False
    alice.save()

    assert ApiToken.authenticate(raw) is None


def _admin_client(user):
    client = Client()
    client.force_login(user)
    return client


def test_admin_creation_shows_the_token_once_and_it_works():
    boss = User.objects.create_superuser("boss", password="pw-for-tests-only")
    client = _admin_client(boss)

    page = client.post(
        "/admin/lighterweb/apitoken/add/", {"user": boss.pk, "name": "backup script"}, follow=True
    )

    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    raw = re.search(r'value="(lw_[^"]+)"', page.content.decode()).group(1)
    token = ApiToken.objects.get()
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    detail = client.get(f"/admin/lighterweb/apitoken/{token.pk}/change/").content.decode()
    listing = client.get("/admin/lighterweb/apitoken/").content.decode()
    assert raw not in detail and raw not in listing
    assert token.token_hash not in detail
    response = Client().get("/api/ping", headers={"Authorization": f"Bearer {raw}"})
    assert response.json() == {"status": "ok"}


def test_the_created_page_is_reached_by_a_redirect_and_a_reload_shows_no_secret():
    boss = User.objects.create_superuser("boss", password="pw-for-tests-only")
    client = _admin_client(boss)

    posted = client.post("/admin/lighterweb/apitoken/add/", {"user": boss.pk, "name": "cron"})

    # POST-redirect-GET: reloading the page the browser lands on repeats a GET, not the POST.
    assert posted.status_code == 303
    first = client.get(posted["Location"]).content.decode()
    again = client.get(posted["Location"]).content.decode()
    assert re.search(r'value="lw_', first)
    assert "lw_" not in again and "cannot be shown again" in again
    assert ApiToken.objects.count() == 1


def test_staff_user_issues_tokens_for_themselves_only(alice):
    boss = User.objects.create_superuser("boss", password="pw-for-tests-only")
    alice.user_permissions.add(*_token_permissions())

    _admin_client(alice).post("/admin/lighterweb/apitoken/add/", {"user": boss.pk, "name": "mine"})

    assert ApiToken.objects.get().user == alice


def test_staff_user_sees_only_their_own_tokens(alice):
    boss = User.objects.create_superuser("boss", password="pw-for-tests-only")
    ApiToken.issue(boss, "boss token")
    ApiToken.issue(alice, "alice token")
    alice.user_permissions.add(*_token_permissions())

    listing = _admin_client(alice).get("/admin/lighterweb/apitoken/").content.decode()

    assert "alice token" in listing
    assert "boss token" not in listing


def test_admin_revoke_action_refuses_the_token_afterwards():
    boss = User.objects.create_superuser("boss", password="pw-for-tests-only")
    token, raw = ApiToken.issue(boss, "old")

    _admin_client(boss).post(
        "/admin/lighterweb/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )

    token.refresh_from_db()
    assert token.revoked_at is not None
    response = Client().get("/api/ping", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 401


def _token_permissions():
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(content_type__app_label="lighterweb")
