"""Key modes and where an account's key may sign: https only (loopback aside), a new network,
base URL or chain id needs the key again, a locked key needs its passphrase after a restart,
a don't-remember key is never stored, and a bot may be started on a locked account."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from bots import services
from bots.models import ExchangeAccount
from lighterweb import keyring
from lighterweb.crypto import SecretDecryptionError, decrypt_secret
from lighterweb.models import AuditEntry
from tests.browser.live_stack import database_url
from tests.lighterweb.factories import api_key_hex, eth_key_hex, make_account, make_bot, make_market

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery"


@pytest.fixture(autouse=True)
def _empty_keyring(settings, redis_url):
    settings.REDIS_URL = redis_url  # unlocks publish a generation there (bots.engine.key_handoff)
    # The keyring is this process's memory: each test starts as after a restart.
    for account_id in ExchangeAccount.objects.values_list("pk", flat=True):
        keyring.forget(account_id)
    yield


def _form(account: ExchangeAccount | None = None, **fields: str) -> dict[str, str]:
    base = {
        "name": account.name if account else "acct",
        "network": account.network if account else "paper",
        "tier": "standard",
        "account_index": "7",
        "api_key_index": "3",
        "key_mode": account.key_mode if account else "remember",
        "base_url_override": account.base_url_override if account else "",
    }
    return base | fields


def _change(admin_client, account: ExchangeAccount, **fields: str):
    return admin_client.post(
        reverse("admin:bots_exchangeaccount_change", args=[account.pk]), _form(account, **fields)
    )


def _errors(response) -> dict[str, list[str]]:
    return {
        name: list(errors) for name, errors in response.context["adminform"].form.errors.items()
    }


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://lighter.example", True),
        ("http://127.0.0.1:8089", True),
        ("http://localhost:9000", True),
        ("http://lighter.example", False),
        ("http://10.0.0.5:8089", False),
        ("ftp://lighter.example", False),
    ],
)
def test_base_url_must_be_https_except_loopback(admin_client, url, ok):
    response = admin_client.post(
        reverse("admin:bots_exchangeaccount_add"), _form(base_url_override=url)
    )

    assert (response.status_code == 302) is ok
    if not ok:
        assert "base_url_override" in _errors(response)


@pytest.mark.parametrize(
    "change",
    [
        {"base_url_override": "https://elsewhere.example"},
        {"network": "testnet"},
        {"chain_id_override": "999"},
    ],
    ids=["base url", "network", "chain id"],
)
def test_moving_an_account_with_a_stored_key_needs_the_key_again(admin_client, change):
    account = make_account()
    account.set_api_private_key(api_key_hex())
    account.save()

    refused = _change(admin_client, account, **change)

    assert refused.status_code == 200
    assert "api_private_key" in _errors(refused)
    account.refresh_from_db()
    assert account.base_url_override == "" and account.network == "paper"

    accepted = _change(admin_client, account, api_private_key=api_key_hex(), **change)

    assert accepted.status_code == 302


def test_moving_an_account_with_an_eth_key_needs_it_again_too(admin_client):
    account = make_account()
    account.set_api_private_key(api_key_hex())
    account.set_eth_private_key(eth_key_hex())
    account.save()

    response = _change(admin_client, account, network="testnet", api_private_key=api_key_hex())

    assert "eth_private_key" in _errors(response)


def test_renaming_an_account_keeps_its_key_without_asking(admin_client):
    account = make_account()
    account.set_api_private_key(api_key_hex())
    account.save()

    assert _change(admin_client, account, name="renamed").status_code == 302


def _locked_account(admin_client) -> tuple[ExchangeAccount, str]:
    key = api_key_hex()
    response = admin_client.post(
        reverse("admin:bots_exchangeaccount_add"),
        _form(key_mode="locked", api_private_key=key, unlock_passphrase=PASSPHRASE),
    )
    assert response.status_code == 302, _errors(response)
    return ExchangeAccount.objects.get(name="acct"), key


def test_a_locked_key_needs_a_passphrase_of_twelve_characters(admin_client):
    response = admin_client.post(
        reverse("admin:bots_exchangeaccount_add"),
        _form(key_mode="locked", api_private_key=api_key_hex(), unlock_passphrase="short"),
    )

    assert "unlock_passphrase" in _errors(response)


def test_the_server_keys_alone_cannot_decrypt_a_locked_key(admin_client):
    account, key = _locked_account(admin_client)
    keyring.forget(account.pk)  # as after a restart

    assert account.key_salt
    assert key not in decrypt_secret(account.api_private_key_encrypted)
    with pytest.raises(SecretDecryptionError, match="locked"):
        account.decrypt_api_private_key()


@pytest.mark.django_db(transaction=True)
def test_a_restarted_process_finds_a_locked_key_locked(admin_client):
    account, _ = _locked_account(admin_client)
    # Another process on the same database and .env, as the site after a restart.
    probe = (
        "import django; django.setup(); from bots.models import ExchangeAccount; "
        f"account = ExchangeAccount.objects.get(pk={account.pk}); "
        "print(account.is_locked, account.has_api_private_key)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lighterweb.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
    }

    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.stdout.split() == ["True", "True"], result.stderr


def test_unlock_with_the_passphrase_lets_the_web_process_sign(admin_client):
    account, key = _locked_account(admin_client)
    keyring.forget(account.pk)
    changelist = reverse("admin:bots_exchangeaccount_changelist")
    selected = {"action": "unlock_key", "_selected_action": [account.pk]}

    asks = admin_client.post(changelist, selected)
    wrong = admin_client.post(changelist, selected | {"unlock_passphrase": "not the passphrase"})
    assert account.is_locked
    right = admin_client.post(changelist, selected | {"unlock_passphrase": PASSPHRASE})

    assert asks.status_code == 200 and "id_unlock_passphrase" in asks.text
    assert wrong.status_code == right.status_code == 302
    assert not account.is_locked
    assert account.decrypt_api_private_key() == key
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"unlock_failed", "key_unlocked"} <= actions


def test_a_viewer_or_operator_cannot_unlock(client, admin_client):
    from tests.lighterweb.factories import make_user

    account, _ = _locked_account(admin_client)
    keyring.forget(account.pk)
    client.force_login(make_user("op", role="operator"))

    client.post(
        reverse("admin:bots_exchangeaccount_changelist"),
        {"action": "unlock_key", "_selected_action": [account.pk], "unlock_passphrase": PASSPHRASE},
    )

    assert account.is_locked


def test_bot_start_accepts_a_locked_account_its_runner_waits_for_the_key(admin_client):
    account, _ = _locked_account(admin_client)
    keyring.forget(account.pk)
    bot = make_bot(account, make_market())

    services.bot_start(bot, actor="test")

    bot.refresh_from_db()
    assert bot.desired_state == "running"


def test_a_dont_remember_key_is_never_stored(admin_client):
    key = api_key_hex()

    admin_client.post(
        reverse("admin:bots_exchangeaccount_add"), _form(key_mode="session", api_private_key=key)
    )

    account = ExchangeAccount.objects.get(name="acct")
    assert account.api_private_key_encrypted == ""
    assert account.decrypt_api_private_key() == key  # this process holds it
    keyring.forget(account.pk)  # a restart
    assert not account.has_api_private_key
    with pytest.raises(SecretDecryptionError):
        account.decrypt_api_private_key()


def test_changing_the_key_mode_needs_the_key_again(admin_client):
    account = make_account()
    account.set_api_private_key(api_key_hex())
    account.save()

    response = _change(admin_client, account, key_mode="session")

    assert "api_private_key" in _errors(response)
