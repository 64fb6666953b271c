"""Secrets never reach a page, a log line or the API; login is required everywhere but /healthz."""

import io
import logging

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from bots.models import ExchangeAccount
from tests.lighterweb.factories import api_key_hex, eth_key_hex, make_bot, make_market

pytestmark = pytest.mark.django_db


@pytest.fixture
def saved_keys(admin_client, caplog):
    """An account whose keys were typed into the admin, with every logger captured."""
    caplog.set_level(logging.DEBUG)
    api_key, eth_key = api_key_hex(), eth_key_hex()
    response = admin_client.post(
        reverse("admin:bots_exchangeaccount_add"),
        {
            "name": "secretive",
            "network": "paper",
            "tier": "standard",
            "account_index": "5",
            "api_key_index": "3",
            "api_private_key": api_key,
            "eth_private_key": eth_key,
        },
    )
    assert response.status_code == 302
    account = ExchangeAccount.objects.get(name="secretive")
    return account, [api_key, eth_key, api_key[2:], eth_key[2:]]


def _assert_absent(text: str, secrets: list[str]) -> None:
    lowered = text.lower()
    for secret in secrets:
        assert secret.lower() not in lowered


def test_no_admin_page_contains_a_private_key(admin_client, saved_keys):
    account, secrets = saved_keys
    make_bot(account, make_market())
    urls = [
        reverse("admin:index"),
        reverse("admin:bots_exchangeaccount_changelist"),
        reverse("admin:bots_exchangeaccount_change", args=[account.pk]),
        reverse("admin:bots_exchangeaccount_history", args=[account.pk]),
        reverse("admin:bots_exchangeaccount_delete", args=[account.pk]),
        reverse("admin:bots_gridbot_changelist"),
        reverse("admin:bots_gridbot_add"),
        reverse("admin:bots_botevent_changelist"),
    ]

    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        _assert_absent(response.text, secrets)


def test_ciphertext_is_not_rendered_either(admin_client, saved_keys):
    account, _ = saved_keys

    response = admin_client.get(reverse("admin:bots_exchangeaccount_change", args=[account.pk]))

    assert account.api_private_key_encrypted not in response.text


def test_invalid_key_submission_does_not_echo_the_value(admin_client):
    bad_key = "0x" + "ab" * 39 + "zz"

    response = admin_client.post(
        reverse("admin:bots_exchangeaccount_add"),
        {"name": "x", "network": "paper", "tier": "standard", "api_private_key": bad_key},
    )

    assert response.status_code == 200
    assert "api_private_key" in response.context["adminform"].form.errors
    assert bad_key not in response.text


def test_no_log_line_contains_a_private_key(admin_client, saved_keys, caplog):
    account, secrets = saved_keys
    bot = make_bot(account, make_market())
    admin_client.get(reverse("admin:bots_exchangeaccount_change", args=[account.pk]))
    admin_client.post(
        reverse("admin:bots_gridbot_changelist"),
        {"action": "start", "_selected_action": [bot.pk]},
        follow=True,
    )
    call_command("rotate_field_keys", stdout=io.StringIO())

    assert caplog.records, "the logs were not captured"
    _assert_absent(caplog.text, secrets)
    for record in caplog.records:
        _assert_absent(repr(record.args), secrets)


def test_api_schema_has_no_secret_fields(admin_client, saved_keys):
    _, secrets = saved_keys

    response = admin_client.get("/api/openapi.json")

    assert response.status_code == 200
    _assert_absent(response.text, secrets)
    assert "private_key" not in response.text


@pytest.mark.parametrize("path", ["/admin/", "/api/docs", "/"])
def test_pages_require_login(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"] or response["Location"] == "/admin/"


def test_api_refuses_anonymous_callers_with_401_not_a_login_redirect(client):
    response = client.get("/api/status")

    assert response.status_code == 401


def test_argon2_is_the_password_hasher(admin_user):
    assert admin_user.password.startswith("argon2$")


def test_debug_error_page_of_an_account_save_shows_no_key(admin_user, settings):
    # A real fault while saving: the field-encryption key is not a Fernet key.
    settings.DEBUG = True
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    api_key, eth_key = api_key_hex(), eth_key_hex()

    response = client.post(
        reverse("admin:bots_exchangeaccount_add"),
        {
            "name": "crashes",
            "network": "paper",
            "tier": "standard",
            "api_private_key": api_key,
            "eth_private_key": eth_key,
        },
    )

    assert response.status_code == 500
    assert "ImproperlyConfigured" in response.text  # the debug page, with its frames
    _assert_absent(response.text, [api_key, eth_key, api_key[2:], eth_key[2:]])


@pytest.mark.parametrize(
    "header",
    ["Token {raw}", "{raw}", "Basic {raw}", "Bearer {raw}x", "bearer  {raw}-wrong"],
    ids=["token scheme", "no scheme", "basic scheme", "wrong token", "extra space"],
)
def test_api_auth_failures_never_log_the_credential(client, settings, caplog, header):
    settings.DEBUG = True  # ninja's own bearer parsing logs the header whole in debug mode
    caplog.set_level(logging.DEBUG)
    raw = "lw_" + "s3cr3t" * 7

    response = client.get("/api/status", headers={"Authorization": header.format(raw=raw)})

    assert response.status_code == 401
    assert caplog.records, "the logs were not captured"
    _assert_absent(caplog.text, [raw, raw[3:20]])
    for record in caplog.records:
        _assert_absent(repr(record.args), [raw[3:20]])


@pytest.mark.parametrize("path", ["/admin/", "/dashboard/", "/api/docs", "/admin/login/"])
def test_pages_carry_a_content_security_policy_without_inline_script(admin_client, path):
    response = admin_client.get(path)

    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy or policy.endswith("script-src 'self'")
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


def test_api_docs_load_swagger_ui_from_our_own_static_files(admin_client):
    page = admin_client.get("/api/docs").text

    assert "/static/vendor/swagger-ui-dist-" in page
    assert "cdn" not in page.lower()
