"""The sealed hand-off of an unlocked key from the web process to the bots workers, in process
with real Redis: what Redis holds, who can open it, and what lock and unlock-again do.

(The whole path with a real bots worker and the simulator: test_locked_worker.py.)
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.utils import timezone

from bots.engine import key_handoff
from bots.engine.controls import bot_orders_cancel_offline
from bots.engine.supervisor import bots_supervise
from bots.models import Bot, ExchangeAccount
from lighterweb import keyring
from tests.lighterweb.factories import (
    api_key_hex,
    make_account,
    make_bot,
    make_hedge_bot,
    make_market,
)

ACCOUNT = 4242


@pytest.fixture(autouse=True)
def _redis(settings, redis_url, redis_client):
    settings.REDIS_URL = redis_url
    keyring.forget(ACCOUNT)
    yield
    key_handoff.revoke(ACCOUNT)


def _public(private: X25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_a_sealed_key_opens_only_with_its_worker_key_and_data():
    worker, other = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    key = api_key_hex()

    blob = key_handoff.seal(key, _public(worker), b"1:w:g")

    assert key not in blob
    assert key_handoff.open_sealed(blob, worker, b"1:w:g") == key
    with pytest.raises(ValueError):
        key_handoff.open_sealed(blob, other, b"1:w:g")
    with pytest.raises(ValueError):
        key_handoff.open_sealed(blob, worker, b"2:w:g")  # another account's slot


def test_the_worker_receives_the_key_keeps_it_through_an_unlock_again_and_forgets_on_lock(
    redis_client,
):
    key = api_key_hex()
    worker = key_handoff.WorkerKeys()  # a worker's state, without its thread
    worker.poll_once()  # publishes its public key
    keyring.keep(ACCOUNT, key)  # the operator unlocked in this (web) process

    assert key_handoff.publish(ACCOUNT) == 1
    keyring.forget(ACCOUNT)  # the worker's copy must come from Redis, not this process
    stored = b"".join(
        (redis_client.get(name) or b"") + name for name in redis_client.keys("lighterweb:keys:*")
    )
    assert key.encode() not in stored
    worker.poll_once()
    assert keyring.get(ACCOUNT) == key

    # Unlocked again (a new generation) before this worker's new copy: it keeps the key.
    redis_client.set(f"lighterweb:keys:generation:{ACCOUNT}", "newer")
    worker.poll_once()
    assert keyring.get(ACCOUNT) == key

    key_handoff.revoke(ACCOUNT)  # "Lock the key again"
    worker.poll_once()
    assert keyring.get(ACCOUNT) is None
    assert not redis_client.keys(f"lighterweb:keys:sealed:{ACCOUNT}:*")


def test_the_web_process_reseals_for_a_worker_that_appears_later(redis_client):
    key = api_key_hex()
    keyring.keep(ACCOUNT, key)
    assert key_handoff.publish(ACCOUNT) == 0  # no worker yet

    worker = key_handoff.WorkerKeys()
    worker.poll_once()
    key_handoff.reseal_once()

    assert redis_client.exists(f"lighterweb:keys:sealed:{ACCOUNT}:{worker.worker_id}")
    keyring.forget(ACCOUNT)
    worker.poll_once()
    assert keyring.get(ACCOUNT) == key


def _locked_account() -> ExchangeAccount:
    """An account whose key is locked, as a default worker sees it (it never holds the key)."""
    account = make_account(key_mode="locked")
    account.set_api_private_key(api_key_hex(), passphrase="correct horse battery")
    account.save()
    keyring.forget(account.pk)
    return account


def _supervised_and_cancelled(redis_client, bot_id: int) -> tuple[list[int], str]:
    """The supervisor's pass (which bots it asks to cancel) and the offline cancel's outcome."""
    asked: list[int] = []
    bots_supervise(
        redis_client,
        now=timezone.now(),
        enqueue_run=asked.append,
        enqueue_cancel=lambda bot_id, reason: asked.append(bot_id),
    )
    return asked, bot_orders_cancel_offline(bot_id, reason="supervisor: no runner alive")


def _stopped_without_a_runner(kind: str) -> Bot:
    """A bot of `kind` on a locked account, stopped while no runner was alive: a grid left
    'locked', a hedge bot (an emergency stop) left 'stopping'."""
    if kind == "grid":
        bot: Bot = make_bot(_locked_account(), make_market())
        status = "locked"
    else:
        bot = make_hedge_bot(_locked_account(), make_account(name="taker"), make_market())
        status = "stopping"
    Bot.objects.filter(pk=bot.pk).update(desired_state="stopped", status=status)
    return bot


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["grid", "hedge"])
def test_a_bot_stopped_without_a_runner_ends_stopped_saying_what_was_left(redis_client, kind):
    """The supervisor and the offline cancel take every kind of bot: a hedge bot stopped while
    no runner was alive was left 'stopping', and its cancel task failed loading it as a grid."""
    bot = _stopped_without_a_runner(kind)

    asked, outcome = _supervised_and_cancelled(redis_client, bot.pk)

    bot.refresh_from_db()
    assert asked == [bot.pk]
    assert outcome == "done"
    assert bot.status == "stopped"
    if kind == "grid":
        assert "dead-man's switch" in bot.status_message
