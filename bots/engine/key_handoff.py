"""Handing an unlocked key to the bots workers, with no plaintext key in Redis, the DB or a log.

Accounts in the "remember, locked" and "don't remember" key modes can only be signed for by a
process that holds their unlocked key in memory (`lighterweb.keyring`). The operator unlocks in
the web process; the bots run in the Celery bots workers. The key crosses over sealed:

- Each bots worker process that runs a bot of such an account generates an X25519 key pair in
  memory (`worker_keys_start`) and publishes only the public half in Redis
  (`lighterweb:keys:worker:<worker id>`, TTL `WORKER_KEY_TTL_S`, renewed every `POLL_S`).
- When an operator unlocks an account (or enters a don't-remember key), the web process draws a
  new *generation* for the account (`lighterweb:keys:generation:<account>`, random, no secret in
  it) and seals the key to every live worker's public key (`publish`): X25519 with a fresh
  ephemeral key, HKDF-SHA256, AES-256-GCM with the account, worker and generation as associated
  data. Each sealed blob (`lighterweb:keys:sealed:<account>:<worker id>`, TTL `SEALED_TTL_S`)
  opens only with that worker's private key, which never leaves its process.
- While the web process holds the key it re-seals, every `POLL_S`, for workers that appear
  later (a worker restart, a second worker) and for blobs that expired. A web process that
  restarted no longer holds it: then a new worker waits until an operator unlocks again.
- The worker's poller opens its blobs into its own keyring and, on every pass, drops any key
  whose generation is gone (`revoke` deletes it: "Lock the key again"). A generation that
  changed is an unlock again (or a new key): the worker keeps its copy until the new blob,
  sealed for it in the same step, replaces it, so an unlock never interrupts a running bot.

Redis therefore only ever holds public keys, random generations and ciphertext; a copy of Redis
(or of its RDB/AOF files) opens nothing without a live worker's memory.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from typing import cast

import redis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from redis.exceptions import RedisError

from exchange.redis_clients import redis_client
from lighterweb import keyring

logger = logging.getLogger(__name__)

# A worker renews its public key and looks for sealed keys this often; the web process re-seals
# for new workers this often.
POLL_S = 1.0
# A worker that stops renewing (killed) disappears from Redis after this.
WORKER_KEY_TTL_S = 30
# A sealed blob left unread (its worker died) is gone after this; a live web process re-seals.
SEALED_TTL_S = 120
_INFO = b"lighterweb key handoff v1"

PREFIX = "lighterweb:keys"


def _worker_key(worker_id: str) -> str:
    return f"{PREFIX}:worker:{worker_id}"


def _generation_key(account_id: int) -> str:
    return f"{PREFIX}:generation:{account_id}"


def _sealed_key(account_id: int | str, worker_id: str) -> str:
    return f"{PREFIX}:sealed:{account_id}:{worker_id}"


def _redis() -> redis.Redis:
    return redis_client(settings.REDIS_URL)


def _aad(account_id: int, worker_id: str, generation: str) -> bytes:
    return f"{account_id}:{worker_id}:{generation}".encode()


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO + ephemeral + recipient
    ).derive(shared)


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


@sensitive_variables()
def seal(plaintext: str, recipient: bytes, aad: bytes) -> str:
    """`plaintext` sealed to the X25519 public key `recipient` (JSON of hex fields)."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = _raw(ephemeral.public_key())
    key = _derive(
        ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient)), ephemeral_raw, recipient
    )
    nonce = secrets.token_bytes(12)
    ciphertext = AESGCM(key).encrypt(nonce, plaintext.encode(), aad)
    return json.dumps(
        {"ephemeral": ephemeral_raw.hex(), "nonce": nonce.hex(), "ciphertext": ciphertext.hex()}
    )


@sensitive_variables()
def open_sealed(blob: str, private: X25519PrivateKey, aad: bytes) -> str:
    """The plaintext of a `seal` blob; raises ValueError when it is not for this key / data."""
    try:
        fields = json.loads(blob)
        ephemeral = bytes.fromhex(fields["ephemeral"])
        nonce = bytes.fromhex(fields["nonce"])
        ciphertext = bytes.fromhex(fields["ciphertext"])
        shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral))
        key = _derive(shared, ephemeral, _raw(private.public_key()))
        return AESGCM(key).decrypt(nonce, ciphertext, aad).decode()
    except (InvalidTag, KeyError, TypeError, ValueError) as exc:
        raise ValueError("sealed key does not open with this worker's key") from exc


# -- the web side ---------------------------------------------------------------------------------

# Accounts this process unlocked, with the generation it published: re-sealed for new workers.
_held: dict[int, str] = {}
_held_lock = threading.Lock()
_resealer: threading.Thread | None = None


def _live_workers(client: redis.Redis) -> dict[str, bytes]:
    workers: dict[str, bytes] = {}
    for name in client.scan_iter(match=_worker_key("*"), count=500):
        worker_id = name.decode().rsplit(":", 1)[1]
        value = cast(bytes | None, client.get(name))
        if value is not None and len(value) == 32:
            workers[worker_id] = value
    return workers


@sensitive_variables()
def _seal_missing(client: redis.Redis, account_id: int, generation: str) -> int:
    """Seal the account's key for every live worker that has no blob of it yet."""
    plaintext = keyring.get(account_id)
    if plaintext is None:
        return 0
    sealed = 0
    for worker_id, public in _live_workers(client).items():
        name = _sealed_key(account_id, worker_id)
        if client.exists(name):
            continue
        blob = seal(plaintext, public, _aad(account_id, worker_id, generation))
        client.set(name, json.dumps({"generation": generation, "sealed": blob}), ex=SEALED_TTL_S)
        sealed += 1
    if sealed:
        logger.info("account %s: key sealed for %d bots worker(s)", account_id, sealed)
    return sealed


def _drop_sealed(client: redis.Redis, account_id: int) -> None:
    names = list(client.scan_iter(match=_sealed_key(account_id, "*"), count=500))
    if names:
        client.delete(*names)


def publish(account_id: int) -> int:
    """The web process unlocked the account (its key is in this process's keyring): hand it to
    the bots workers under a new generation; how many workers it was sealed for now."""
    if not keyring.holds(account_id):
        return 0
    generation = secrets.token_hex(16)
    client = _redis()
    try:
        _drop_sealed(client, account_id)
        client.set(_generation_key(account_id), generation)
        with _held_lock:
            _held[account_id] = generation
        count = _seal_missing(client, account_id, generation)
    finally:
        client.close()
    _resealer_start()
    return count


def revoke(account_id: int) -> None:
    """Lock the account everywhere: this process forgets the key, the workers drop theirs on
    their next pass (the generation is gone) and every sealed blob of it is deleted."""
    keyring.forget(account_id)
    with _held_lock:
        _held.pop(account_id, None)
    client = _redis()
    try:
        client.delete(_generation_key(account_id))
        _drop_sealed(client, account_id)
    finally:
        client.close()


def _resealer_start() -> None:
    global _resealer
    with _held_lock:
        if _resealer is not None:
            return  # running; it clears this under the lock before it ends
        _resealer = threading.Thread(target=_reseal_forever, name="key-handoff-reseal", daemon=True)
        _resealer.start()


def _reseal_forever() -> None:
    global _resealer
    stop = threading.Event()
    while True:
        with _held_lock:
            held = dict(_held)
            if not held:
                _resealer = None
                return
        try:
            reseal_once(held)
        except (RedisError, OSError) as exc:
            logger.warning("key hand-off: re-seal pass failed (%s); retrying", exc)
        except Exception:  # the thread's one top-level handler: it must outlive any one pass
            logger.exception("key hand-off: re-seal pass crashed; retrying")
        stop.wait(POLL_S)


def reseal_once(held: dict[int, str] | None = None) -> None:
    """One pass of the web process's re-sealer (also called by tests)."""
    if held is None:
        with _held_lock:
            held = dict(_held)
    client = _redis()
    try:
        for account_id, generation in held.items():
            current = client.get(_generation_key(account_id))
            if current is None or current.decode() != generation or not keyring.holds(account_id):
                # Locked (or unlocked again by another web process): stop sealing this one.
                with _held_lock:
                    if _held.get(account_id) == generation:
                        _held.pop(account_id)
                if current is None:
                    keyring.forget(account_id)
                continue
            _seal_missing(client, account_id, generation)
    finally:
        client.close()


# -- the worker side ------------------------------------------------------------------------------


class WorkerKeys:
    """This worker process's X25519 key pair and the generations of the keys it opened."""

    def __init__(self) -> None:
        self.worker_id = secrets.token_hex(8)
        self._private = X25519PrivateKey.generate()
        self.public = _raw(self._private.public_key())
        self.generations: dict[int, str] = {}
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._run, name="key-handoff-worker", daemon=True)

    def _run(self) -> None:
        while True:
            try:
                self.poll_once()
            except (RedisError, OSError) as exc:
                logger.warning("key hand-off: worker pass failed (%s); retrying", exc)
            except Exception:  # the thread's one top-level handler: it must outlive any one pass
                logger.exception("key hand-off: worker pass crashed; retrying")
            self.wake.wait(POLL_S)
            self.wake.clear()

    @sensitive_variables()
    def poll_once(self) -> None:
        """Renew the public key, open the blobs sealed for this worker, drop revoked keys."""
        client = _redis()
        try:
            client.set(_worker_key(self.worker_id), self.public, ex=WORKER_KEY_TTL_S)
            for name in client.scan_iter(match=_sealed_key("*", self.worker_id), count=500):
                account_id = int(name.decode().split(":")[-2])
                raw = cast(bytes | None, client.get(name))
                if raw is None:
                    continue
                entry = json.loads(raw)
                generation = str(entry["generation"])
                if self.generations.get(account_id) == generation and keyring.holds(account_id):
                    continue
                try:
                    plaintext = open_sealed(
                        entry["sealed"],
                        self._private,
                        _aad(account_id, self.worker_id, generation),
                    )
                except ValueError:
                    logger.warning("account %s: a sealed key did not open; ignored", account_id)
                    continue
                keyring.keep(account_id, plaintext)
                self.generations[account_id] = generation
                logger.info("account %s: unlocked key received by this bots worker", account_id)
            for account_id in list(self.generations):
                # Gone: locked. Replaced: unlocked again, the new blob replaces this key (a
                # running bot must not be locked by an unlock in between).
                if client.get(_generation_key(account_id)) is None:
                    self.forget(account_id)
        finally:
            client.close()

    def forget(self, account_id: int) -> None:
        if self.generations.pop(account_id, None) is not None:
            logger.info("account %s: key locked again; this bots worker forgot it", account_id)
        keyring.forget(account_id)


_worker: WorkerKeys | None = None
_worker_lock = threading.Lock()


def worker_keys_start() -> WorkerKeys:
    """This process's worker key pair, published and polled from now on (idempotent)."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = WorkerKeys()
            _worker.thread.start()  # its first pass publishes the public key
        return _worker


def worker_holds(account_id: int) -> bool:
    """Whether this worker holds the account's key and the account is not locked (one Redis
    read); a key whose account was locked is forgotten here at once."""
    with _held_lock:
        unlocked_here = account_id in _held
    if unlocked_here and keyring.holds(account_id):
        return True  # this process is also where the operator unlocked it (revoke clears both)
    worker = worker_keys_start()
    generation = worker.generations.get(account_id)
    if generation is None or not keyring.holds(account_id):
        return False
    client = _redis()
    try:
        current = client.get(_generation_key(account_id))
    except (RedisError, OSError) as exc:
        # A Redis blip is not a lock: keep the key (a lock is seen on the next read).
        logger.warning("account %s: key generation unreadable (%s); key kept", account_id, exc)
        return True
    finally:
        client.close()
    if current is None:
        worker.forget(account_id)
        return False
    if current.decode() != generation:
        worker.wake.set()  # unlocked again meanwhile: fetch the new copy now
    return True
