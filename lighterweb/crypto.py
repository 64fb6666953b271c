"""Encryption at rest for secret fields (exchange API and ETH private keys).

`FIELD_ENCRYPTION_KEYS` holds comma-separated Fernet keys. The first one encrypts; every one of
them decrypts, so a key is rotated by putting a new key first, running
`python manage.py rotate_field_keys`, then dropping the old key.

Accounts in the "remember, locked" key mode add a second layer (`lock_secret`): a key derived
with argon2id from an unlock passphrase that is never stored, with a per-account salt.

Plaintext only ever exists in memory: callers decrypt right before use and never log, render or
return it. Every function that holds one is `sensitive_variables`, so Django's error reports (the
debug page, error mails) show its locals as stars.
"""

from __future__ import annotations

import base64
import logging
import secrets
from functools import lru_cache

from argon2.low_level import Type, hash_secret_raw
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables

logger = logging.getLogger(__name__)


class SecretDecryptionError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


@lru_cache(maxsize=4)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("Set the FIELD_ENCRYPTION_KEYS environment variable")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        # The message must not echo the key itself.
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)"
        ) from exc


def configured_fernet() -> MultiFernet:
    """The MultiFernet built from settings.FIELD_ENCRYPTION_KEYS (first key encrypts)."""
    return _multi_fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def generate_key() -> str:
    """A fresh Fernet key, as written into `.env` by scripts/start.sh."""
    return Fernet.generate_key().decode()


@sensitive_variables()
def encrypt_secret(plaintext: str) -> str:
    """Ciphertext token of `plaintext` under the first configured key ("" stays "")."""
    if not plaintext:
        return ""
    return configured_fernet().encrypt(plaintext.encode()).decode()


@sensitive_variables()
def decrypt_secret(token: str) -> str:
    """Plaintext of a stored token ("" stays ""); raises SecretDecryptionError if no key fits."""
    if not token:
        return ""
    try:
        return configured_fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError(
            "stored secret cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS"
        ) from exc


@sensitive_variables()
def rotate_secret(token: str) -> str:
    """The same secret re-encrypted under the first configured key ("" stays "")."""
    if not token:
        return ""
    try:
        return configured_fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError(
            "stored secret cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS"
        ) from exc


# -- passphrase-locked secrets (key mode "remember, locked") --------------------------------------

# argon2id, per-account salt: 64 MiB and 3 passes make each guess cost a server real time.
PASSPHRASE_SALT_BYTES = 16
ARGON2_TIME_COST = 3
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_PARALLELISM = 1


class WrongPassphrase(Exception):
    """The passphrase does not open this locked secret."""


def new_salt() -> str:
    """A fresh per-account salt (hex) for the passphrase derivation."""
    return secrets.token_hex(PASSPHRASE_SALT_BYTES)


@sensitive_variables()
def _passphrase_fernet(passphrase: str, salt_hex: str) -> Fernet:
    raw = hash_secret_raw(
        secret=passphrase.encode(),
        salt=bytes.fromhex(salt_hex),
        time_cost=ARGON2_TIME_COST,
        memory_cost=ARGON2_MEMORY_KIB,
        parallelism=ARGON2_PARALLELISM,
        hash_len=32,
        type=Type.ID,
    )
    return Fernet(base64.urlsafe_b64encode(raw))


@sensitive_variables()
def lock_secret(plaintext: str, passphrase: str, salt_hex: str) -> str:
    """`plaintext` encrypted under the passphrase's key, then under the server's field key.

    Neither layer alone opens it: the database and `.env` together still need the passphrase,
    which is never stored.
    """
    inner = _passphrase_fernet(passphrase, salt_hex).encrypt(plaintext.encode()).decode()
    return encrypt_secret(inner)


@sensitive_variables()
def unlock_secret(token: str, passphrase: str, salt_hex: str) -> str:
    """The plaintext of a `lock_secret` token; raises WrongPassphrase for a wrong passphrase."""
    inner = decrypt_secret(token)
    try:
        return _passphrase_fernet(passphrase, salt_hex).decrypt(inner.encode()).decode()
    except InvalidToken as exc:
        raise WrongPassphrase("wrong passphrase") from exc
