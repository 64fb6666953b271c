"""Field encryption: round trip, wrong key, rotation with MultiFernet and the command."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from bots.models import ExchangeAccount
from lighterweb.crypto import (
    SecretDecryptionError,
    decrypt_secret,
    encrypt_secret,
    generate_key,
    rotate_secret,
)
from tests.lighterweb.factories import api_key_hex, eth_key_hex, make_account


def test_encrypt_then_decrypt_returns_the_plaintext(settings):
    settings.FIELD_ENCRYPTION_KEYS = [generate_key()]
    plaintext = api_key_hex()

    token = encrypt_secret(plaintext)

    assert plaintext not in token
    assert decrypt_secret(token) == plaintext


def test_empty_secret_stays_empty(settings):
    settings.FIELD_ENCRYPTION_KEYS = [generate_key()]

    assert (encrypt_secret(""), decrypt_secret("")) == ("", "")


def test_token_from_an_unknown_key_fails_with_a_clear_error(settings):
    settings.FIELD_ENCRYPTION_KEYS = [generate_key()]
    foreign = Fernet(generate_key().encode()).encrypt(b"secret").decode()

    with pytest.raises(SecretDecryptionError, match="FIELD_ENCRYPTION_KEYS"):
        decrypt_secret(foreign)


def test_old_tokens_still_decrypt_after_a_new_key_is_put_first(settings):
    old, new = generate_key(), generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    token = encrypt_secret("s3cret")

    settings.FIELD_ENCRYPTION_KEYS = [new, old]

    assert decrypt_secret(token) == "s3cret"


def test_rotated_token_decrypts_with_the_new_key_alone(settings):
    old, new = generate_key(), generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    token = encrypt_secret("s3cret")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]

    rotated = rotate_secret(token)
    settings.FIELD_ENCRYPTION_KEYS = [new]

    assert decrypt_secret(rotated) == "s3cret"


def test_malformed_key_setting_fails_without_echoing_the_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key-but-secret"]

    with pytest.raises(ImproperlyConfigured) as caught:
        encrypt_secret("x")

    assert "not-a-fernet-key-but-secret" not in str(caught.value)


@pytest.mark.django_db
def test_rotate_field_keys_command_reencrypts_every_account(settings):
    old, new = generate_key(), generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    api_key, eth_key = api_key_hex(), eth_key_hex()
    account = make_account()
    account.set_api_private_key(api_key)
    account.set_eth_private_key(eth_key)
    account.save()
    make_account()  # an account without keys must not trip the command
    settings.FIELD_ENCRYPTION_KEYS = [new, old]

    call_command("rotate_field_keys", stdout=io.StringIO())
    settings.FIELD_ENCRYPTION_KEYS = [new]

    stored = ExchangeAccount.objects.get(pk=account.pk)
    assert stored.decrypt_api_private_key() == api_key
    assert stored.decrypt_eth_private_key() == eth_key


@pytest.mark.django_db
def test_rotate_field_keys_refuses_when_a_secret_cannot_be_decrypted(settings):
    settings.FIELD_ENCRYPTION_KEYS = [generate_key()]
    account = make_account()
    account.set_api_private_key(api_key_hex())
    account.save()
    settings.FIELD_ENCRYPTION_KEYS = [generate_key()]

    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("rotate_field_keys", stdout=io.StringIO())
