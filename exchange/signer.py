"""The Lighter SDK's Go signer behind one class: the only module that imports `lighter`.

The SDK is used for what only it can do — signing transactions and auth tokens, generating key
pairs, checking a key against the exchange — and nothing else (REST goes through
`exchange.http`). Its `SignerClient` wraps a Go shared library that breaks across fork() (design
decision 7), so it is created lazily, by the first call that signs, and signs on one dedicated
worker thread per client. The private key lives only here and is scrubbed from every message.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from exchange.errors import AuthError, ExchangeError, UnreachableError, network_failure
from exchange.orders import (
    CancelAllSpec,
    CancelSpec,
    GroupSpec,
    LeverageSpec,
    ModifySpec,
    OrderSpec,
    SignedTx,
    TxSpec,
)

# py_ecc (a dependency of the SDK) raises the recursion limit to 100,000 on import: deep JSON
# would then overflow the C stack and kill the process instead of raising RecursionError
# (design decision 7). Nothing we call in the SDK needs the deeper limit.
_RECURSION_LIMIT = sys.getrecursionlimit()
from lighter.nonce_manager import NonceManagerType  # noqa: E402
from lighter.signer_client import CreateOrderTxReq, SignerClient, create_api_key  # noqa: E402

sys.setrecursionlimit(_RECURSION_LIMIT)

logger = logging.getLogger(__name__)

# What every process that signs is started with (the Procfile, the systemd units, start.sh): the
# SDK's Go runtime on one processor. A signature is one short call on the caller's thread; with
# more processors Go's idle threads spin looking for work after every call, ~0.4 ms of CPU a
# fill of a grid bot (docs/benchmarks.md, 2026-12-07 fourth session).
GO_PROCESSORS = "1"
_go_check_lock = threading.Lock()
_go_checked = False


def go_processors_at_start() -> str | None:
    """GOMAXPROCS as this process was started with, which is what the Go runtime reads when
    the signer's library loads: it reads the environment block the process began with, so a
    value set later from Python (os.environ) does not reach it. None when unset."""
    try:
        with open("/proc/self/environ", "rb") as block:
            start = block.read().split(b"\0")
    except OSError:  # not Linux: the environment as it is now is the best we know
        return os.environ.get("GOMAXPROCS")
    for entry in start:
        name, _, value = entry.partition(b"=")
        if name == b"GOMAXPROCS":
            return value.decode(errors="replace")
    return None


def _go_processors_check() -> None:
    """Say once per process, as the signer's library loads, when Go was left to use every CPU."""
    global _go_checked
    with _go_check_lock:
        if _go_checked:
            return
        _go_checked = True
    if go_processors_at_start() is None:
        logger.warning(
            "GOMAXPROCS was not set when this process started: the Lighter signer's Go runtime "
            "uses every CPU and its idle threads spin after each signature (~0.4 ms of CPU a "
            "fill); start it with GOMAXPROCS=%s as the Procfile, the systemd units and "
            "scripts/start.sh do",
            GO_PROCESSORS,
        )


# Tokens may live 8 h; one hour, renewed two minutes early, keeps a leaked token short-lived.
AUTH_TOKEN_TTL_S = 3600
AUTH_TOKEN_RENEW_BEFORE_S = 120


@dataclass
class _AuthToken:
    token: str
    expires_at: float


def generate_api_key() -> tuple[str, str]:
    """A fresh API key pair `(private_key, public_key)` from the SDK's signer.

    Register the public key with the exchange (or the simulator's account config) under an API
    key index; store the private key encrypted. Never log either.
    """
    _go_processors_check()  # may be the process's first load of the library
    private_key, public_key, error = create_api_key()  # type: ignore[no-untyped-call]
    if error or not private_key or not public_key:
        raise ExchangeError(f"cannot generate an API key: {error}")
    return str(private_key), str(public_key)


class Signer:
    """One account's API key: signs transactions and auth tokens, checks the key.

    Without a key (public reads only) every signing call raises `AuthError`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        chain_id: int | None = None,
        account_index: int | None = None,
        api_key_index: int | None = None,
        api_private_key: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._base_url = base_url
        self._chain_id = chain_id
        self.account_index = account_index
        self.api_key_index = api_key_index
        self.__private_key = api_private_key
        # Wall clock for auth-token expiry (injectable so tests can drive time).
        self._clock = clock
        self._client: Any = None
        self._thread: ThreadPoolExecutor | None = None
        self._auth: _AuthToken | None = None
        self._auth_lock = asyncio.Lock()

    def __repr__(self) -> str:
        # Never the private key: only what identifies it.
        return f"Signer(account_index={self.account_index}, api_key_index={self.api_key_index})"

    @property
    def has_key(self) -> bool:
        """True when an account, key index and private key are configured."""
        return self.account_index is not None and self.api_key_index is not None

    def _require_key(self) -> tuple[int, int, str]:
        if self.account_index is None or self.api_key_index is None or not self.__private_key:
            raise AuthError(
                None, "no API key configured (account_index, api_key_index, api_private_key)"
            )
        return self.account_index, self.api_key_index, self.__private_key

    def scrub(self, text: str) -> str:
        """`text` with the private key (with or without 0x) replaced by `***`."""
        key = self.__private_key
        if key:
            text = text.replace(key, "***").replace(key.removeprefix("0x"), "***")
        return text

    def _sdk_client(self) -> Any:
        # Created on first use, never at import or app start: the Go signer must not cross a fork.
        if self._client is None:
            account_index, api_key_index, key = self._require_key()
            _go_processors_check()  # the first client of the process loads the library
            try:
                self._client = SignerClient(
                    url=self._base_url,
                    account_index=account_index,
                    api_private_keys={api_key_index: key},
                    nonce_management_type=NonceManagerType.NONE,
                    chain_id=self._chain_id,
                )
            # The SDK raises bare `Exception` for a malformed key; it is an auth problem.
            except Exception as exc:
                raise AuthError(None, f"cannot load API key: {self.scrub(str(exc))}") from None
        return self._client

    def executor(self) -> ThreadPoolExecutor:
        """The one thread this key signs on (ordered signatures, the Go signer never re-entered)."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="signer")
        return self._thread

    async def close(self) -> None:
        """Release the SDK client's own HTTP session and the signing thread."""
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None

    async def check_api_key(self) -> None:
        """Verify the configured key is the one registered on Lighter; raise AuthError if not."""
        client = self._sdk_client()
        # The Go signer fetches /apikeys itself, synchronously: keep it off the event loop.
        error = await asyncio.to_thread(client.check_client)
        if error:
            text = self.scrub(str(error))
            # The Go signer reports a DNS failure or a refused connection the same way as a
            # wrong key ("failed to get Api Keys ... no such host"): tell them apart.
            reason = network_failure(text)
            if reason is not None:
                raise UnreachableError(self._base_url, reason, text)
            raise AuthError(None, text)

    async def auth_token(self) -> str:
        """A valid auth token for private endpoints and channels, renewed before expiry."""
        async with self._auth_lock:
            now = self._clock()
            if self._auth is None or self._auth.expires_at - now < AUTH_TOKEN_RENEW_BEFORE_S:
                _, api_key_index, _ = self._require_key()
                token, error = self._sdk_client().create_auth_token_with_expiry(
                    deadline=AUTH_TOKEN_TTL_S, timestamp=int(now), api_key_index=api_key_index
                )
                if error or not token:
                    raise AuthError(None, f"cannot create auth token: {self.scrub(str(error))}")
                self._auth = _AuthToken(token=token, expires_at=now + AUTH_TOKEN_TTL_S)
                logger.debug("auth token renewed for account %s", self.account_index)
            return self._auth.token

    async def sign_all(self, specs: Sequence[TxSpec], nonces: Sequence[int]) -> list[SignedTx]:
        """Sign `specs` with `nonces` (one each, in order).

        The Go signer is ~3x slower on the interpreter's main thread (bench/client_latency.py):
        a loop there (the web process) signs on the key's signing thread and keeps serving
        meanwhile. A loop on any other thread (a bot's runner: one bot per thread and loop)
        signs in place: its loop waits for the signatures anyway, and handing each batch to
        another thread and back cost more CPU than the signing of a grid's two orders.
        """
        pairs = list(zip(specs, nonces, strict=True))
        # The SDK client needs a running loop to be created, so that happens here, not there.
        self._sdk_client()
        if threading.current_thread() is not threading.main_thread():
            return [self.sign(spec, nonce) for spec, nonce in pairs]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor(), lambda: [self.sign(spec, nonce) for spec, nonce in pairs]
        )

    def sign(self, spec: TxSpec, nonce: int) -> SignedTx:
        """Sign one transaction with an explicit nonce (the nonce coordinator owns nonces)."""
        _, key, _ = self._require_key()
        signer = self._sdk_client()
        result: tuple[Any, Any, Any, Any]
        if isinstance(spec, OrderSpec):
            result = signer.sign_create_order(
                spec.market_id,
                spec.client_order_index,
                spec.base_amount,
                spec.price,
                int(spec.is_ask),
                int(spec.order_type),
                int(spec.time_in_force),
                int(spec.reduce_only),
                spec.trigger_price,
                spec.order_expiry_ms,
                nonce=nonce,
                api_key_index=key,
            )
        elif isinstance(spec, CancelSpec):
            result = signer.sign_cancel_order(
                spec.market_id, spec.index, nonce=nonce, api_key_index=key
            )
        elif isinstance(spec, ModifySpec):
            result = signer.sign_modify_order(
                spec.market_id,
                spec.index,
                spec.base_amount,
                spec.price,
                spec.trigger_price,
                nonce=nonce,
                api_key_index=key,
            )
        elif isinstance(spec, CancelAllSpec):
            result = signer.sign_cancel_all_orders(
                int(spec.mode), spec.time_ms, spec.market_id, nonce=nonce, api_key_index=key
            )
        elif isinstance(spec, GroupSpec):
            orders = [_order_req(o) for o in spec.orders]
            result = signer.sign_create_grouped_orders(
                int(spec.grouping), orders, nonce=nonce, api_key_index=key
            )
        elif isinstance(spec, LeverageSpec):
            result = signer.sign_update_leverage(
                spec.market_id,
                spec.initial_margin_fraction,
                int(spec.margin_mode),
                nonce=nonce,
                api_key_index=key,
            )
        else:
            raise ExchangeError(f"cannot sign {spec!r}")
        tx_type, tx_info, tx_hash, error = result
        if error:
            raise ExchangeError(f"signer refused {type(spec).__name__}: {self.scrub(str(error))}")
        return SignedTx(tx_type=int(tx_type), tx_info=str(tx_info), tx_hash=str(tx_hash or ""))


def _order_req(spec: OrderSpec) -> Any:
    return CreateOrderTxReq(
        MarketIndex=spec.market_id,
        ClientOrderIndex=spec.client_order_index,
        BaseAmount=spec.base_amount,
        Price=spec.price,
        IsAsk=int(spec.is_ask),
        Type=int(spec.order_type),
        TimeInForce=int(spec.time_in_force),
        ReduceOnly=int(spec.reduce_only),
        TriggerPrice=spec.trigger_price,
        OrderExpiry=spec.order_expiry_ms,
    )
