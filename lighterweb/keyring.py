"""Unlocked exchange keys, held in this process's memory only.

Accounts whose key mode is "remember, locked" or "don't remember" cannot be decrypted from the
database and `.env`: an operator unlocks one (passphrase) or enters its key (don't remember), and
the plaintext is kept here, in the memory of the process that received it, until the process
ends or the account is locked again. Nothing here is ever written to the database, Redis, a file
or a log. A restart forgets everything: the account is locked again.

The web process hands an unlocked key to the bots workers sealed to each worker's ephemeral
public key (`bots.engine.key_handoff`); a worker opens it into its own copy of this keyring.
"""

from __future__ import annotations

import threading

from django.views.decorators.debug import sensitive_variables

_lock = threading.Lock()
_keys: dict[int, str] = {}


@sensitive_variables()
def keep(account_id: int, plaintext: str) -> None:
    """Hold the unlocked key of an account in this process."""
    with _lock:
        _keys[account_id] = plaintext


@sensitive_variables()
def get(account_id: int) -> str | None:
    """The unlocked key of an account, or None when it is locked in this process."""
    with _lock:
        return _keys.get(account_id)


def holds(account_id: int) -> bool:
    """Whether this process holds the account's unlocked key."""
    with _lock:
        return account_id in _keys


def forget(account_id: int) -> None:
    """Lock the account again in this process (drop its key)."""
    with _lock:
        _keys.pop(account_id, None)
