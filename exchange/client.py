"""The async Lighter client: the only module that touches the `lighter` SDK.

The SDK is used for what only it can do — signing transactions and auth tokens with its Go
signer — and nothing else: REST goes through `exchange.http` (shared budget, typed errors),
reads through `exchange.reads`, writes and verified execution through `exchange.trading` (orders
built), `exchange.sending` (signed and sent in batches) and `exchange.execution`, nonces through
`exchange.nonces` (one queue per key in a process: `exchange.process_lock`), streams through
`exchange.streams` (liveness: `exchange.stream_watchdog`). The signer (a Go shared library that
breaks across fork(), design decision 7) is created lazily by the first call that signs, and
signs on one dedicated worker thread.

A bot's loop, in short:

    async with LighterClient(base_url, account_index=..., api_key_index=...,
                             api_private_key=..., l1_address=..., redis_url=...) as client:
        await client.check_api_key()                      # AuthError names the problem
        stream = client.open_stream([market_id])          # books, orders, fills, positions
        await stream.start()
        tickets = await client.place_orders("ETH", [OrderRequest(...), ...])  # batched, <= 50
        async for event in stream.events():
            client.apply_event(event)                     # resolves tickets from the stream
            if isinstance(event, Reconnected):
                await client.reconcile_pending()          # reports missed while disconnected
        ticket = await client.resolve(ticket)             # resting/filled/.../rejected, or unknown
        ticket = await client.reconcile(ticket)           # later, for an unknown one
        result = await client.close_position("ETH", client_order_indexes)  # verified close

Client order indexes always come from the caller (the account's counter in the database).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import redis.asyncio as aioredis
from lighter.nonce_manager import NonceManagerType
from lighter.signer_client import CreateOrderTxReq, SignerClient, create_api_key

from exchange.budget import BudgetUsage, RequestBudget
from exchange.errors import AuthError, ExchangeError
from exchange.execution import ExecutionApi
from exchange.http import DEFAULT_TIMEOUT_S, RestTransport
from exchange.nonces import NonceCoordinator
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
from exchange.reads import ReadApi
from exchange.streams import AccountStream
from exchange.tickets import TicketBook
from exchange.trading import TradingApi
from exchange.types import MarketInfo

logger = logging.getLogger(__name__)

# Tokens may live 8 h; one hour, renewed two minutes early, keeps a leaked token short-lived.
AUTH_TOKEN_TTL_S = 3600
AUTH_TOKEN_RENEW_BEFORE_S = 120
STANDARD_POLL_FIRST_S = 0.25
STANDARD_POLL_MAX_S = 2.0

Tier = Literal["standard", "premium"]


@dataclass
class _AuthToken:
    token: str
    expires_at: float


def default_ws_url(base_url: str) -> str:
    """The websocket URL served next to a REST origin (`http(s)://h` -> `ws(s)://h/stream`)."""
    if base_url.startswith("https://"):
        return "wss://" + base_url[len("https://") :].rstrip("/") + "/stream"
    if base_url.startswith("http://"):
        return "ws://" + base_url[len("http://") :].rstrip("/") + "/stream"
    return base_url.rstrip("/") + "/stream"


def generate_api_key() -> tuple[str, str]:
    """A fresh API key pair `(private_key, public_key)` from the SDK's signer.

    Register the public key with the exchange (or the simulator's account config) under an API
    key index; store the private key encrypted. Never log either.
    """
    private_key, public_key, error = create_api_key()  # type: ignore[no-untyped-call]
    if error or not private_key or not public_key:
        raise ExchangeError(f"cannot generate an API key: {error}")
    return str(private_key), str(public_key)


class LighterClient(ReadApi, TradingApi, ExecutionApi):
    """One account's door to Lighter: typed reads, verified writes, shared nonces and budget.

    Only `base_url` is needed for public reads. Private reads and writes need `account_index`,
    `api_key_index` and `api_private_key`; sharing nonces and the request budget across
    processes needs `redis_url` (and `l1_address` names the budget, as Lighter counts by it).
    """

    def __init__(
        self,
        base_url: str,
        chain_id: int | None = None,
        ws_url: str | None = None,
        account_index: int | None = None,
        api_key_index: int | None = None,
        api_private_key: str | None = None,
        l1_address: str | None = None,
        redis_url: str | None = None,
        tier: Tier = "standard",
        *,
        per_minute: int | None = None,
        clock: Callable[[], float] = time.time,
        request_timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.chain_id = chain_id
        self.ws_url = ws_url or default_ws_url(self.base_url)
        self.account_index = account_index
        self.api_key_index = api_key_index
        self.l1_address = l1_address
        self.redis_url = redis_url
        self.tier: Tier = tier
        self.per_minute = per_minute
        # Wall clock for auth-token expiry (injectable so tests can drive time).
        self._clock = clock
        self.__private_key = api_private_key
        self._signer: Any = None
        self._signing_thread: ThreadPoolExecutor | None = None
        self._auth: _AuthToken | None = None
        self._auth_lock = asyncio.Lock()
        self._redis: aioredis.Redis | None = None
        self._budget: RequestBudget | None = None
        self._nonces: NonceCoordinator | None = None
        self._http = RestTransport(
            self.base_url, auth_token=self.auth_token, timeout_s=request_timeout_s
        )
        self._markets: dict[int, MarketInfo] = {}
        self._markets_lock = asyncio.Lock()
        self.tickets = TicketBook()
        if tier == "standard":
            # Lighter executes standard-tier orders after 200-300 ms: polling sooner is waste.
            self.poll_first_s, self.poll_max_s = STANDARD_POLL_FIRST_S, STANDARD_POLL_MAX_S

    def __repr__(self) -> str:
        # Never the private key: only what identifies the account.
        return (
            f"LighterClient({self.base_url!r}, account_index={self.account_index}, "
            f"api_key_index={self.api_key_index})"
        )

    async def __aenter__(self) -> LighterClient:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect the HTTP session and, with `redis_url`, the shared budget and nonces."""
        if self.redis_url and self._redis is None:
            self._redis = aioredis.Redis.from_url(self.redis_url)
            budget_key = self.l1_address or f"account-{self.account_index}"
            self._budget = RequestBudget(self._redis, budget_key, self.tier, self.per_minute)
            self._http.budget = self._budget
            if self.account_index is not None and self.api_key_index is not None:
                key_index = self.api_key_index
                self._nonces = NonceCoordinator(
                    self._redis, self.account_index, key_index, lambda: self.next_nonce(key_index)
                )
        await self._http.open()

    async def close(self) -> None:
        """Release the HTTP session, Redis connection and the signer's own HTTP client."""
        await self._http.close()
        if self._signer is not None:
            await self._signer.close()
            self._signer = None
        if self._signing_thread is not None:
            self._signing_thread.shutdown(wait=True)
            self._signing_thread = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    # --- shared budget ------------------------------------------------------------------------

    async def budget_usage(self) -> BudgetUsage | None:
        """Current use of the shared request budget (None without Redis)."""
        return None if self._budget is None else await self._budget.usage()

    # --- streams ------------------------------------------------------------------------------

    def open_stream(self, market_ids: Sequence[int], **options: Any) -> AccountStream:
        """An account stream (books, trades, orders, fills, positions) for this account.

        Private channels get fresh tokens from `auth_token` on every (re)subscribe. Feed each
        event to `apply_event` so tickets resolve from the stream.
        """
        has_key = self.account_index is not None and self.api_key_index is not None
        return AccountStream(
            self.ws_url,
            self.account_index if has_key else None,
            market_ids,
            self.auth_token if has_key else None,
            **options,
        )

    # --- signer (SDK) -------------------------------------------------------------------------

    def _require_key(self) -> tuple[int, int, str]:
        if self.account_index is None or self.api_key_index is None or not self.__private_key:
            raise AuthError(
                None, "no API key configured (account_index, api_key_index, api_private_key)"
            )
        return self.account_index, self.api_key_index, self.__private_key

    def _scrub(self, text: str) -> str:
        key = self.__private_key
        if key:
            text = text.replace(key, "***").replace(key.removeprefix("0x"), "***")
        return text

    def _signer_client(self) -> Any:
        if self._signer is None:
            account_index, api_key_index, key = self._require_key()
            try:
                self._signer = SignerClient(
                    url=self.base_url,
                    account_index=account_index,
                    api_private_keys={api_key_index: key},
                    nonce_management_type=NonceManagerType.NONE,
                    chain_id=self.chain_id,
                )
            # The SDK raises bare `Exception` for a malformed key; it is an auth problem.
            except Exception as exc:
                raise AuthError(None, f"cannot load API key: {self._scrub(str(exc))}") from None
        return self._signer

    def _ensure_signer(self) -> None:
        self._signer_client()

    def _sign_executor(self) -> ThreadPoolExecutor:
        # One thread: signatures of one client stay ordered and the Go signer is never re-entered.
        if self._signing_thread is None:
            self._signing_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="signer")
        return self._signing_thread

    async def check_api_key(self) -> None:
        """Verify the configured key is the one registered on Lighter; raise AuthError if not."""
        signer = self._signer_client()
        # The Go signer fetches /apikeys itself, synchronously: keep it off the event loop.
        error = await asyncio.to_thread(signer.check_client)
        if error:
            raise AuthError(None, self._scrub(str(error)))

    async def auth_token(self) -> str:
        """A valid auth token for private endpoints and channels, renewed before expiry."""
        async with self._auth_lock:
            now = self._clock()
            if self._auth is None or self._auth.expires_at - now < AUTH_TOKEN_RENEW_BEFORE_S:
                _, api_key_index, _ = self._require_key()
                token, error = self._signer_client().create_auth_token_with_expiry(
                    deadline=AUTH_TOKEN_TTL_S, timestamp=int(now), api_key_index=api_key_index
                )
                if error or not token:
                    raise AuthError(None, f"cannot create auth token: {self._scrub(str(error))}")
                self._auth = _AuthToken(token=token, expires_at=now + AUTH_TOKEN_TTL_S)
                logger.debug("auth token renewed for account %s", self.account_index)
            return self._auth.token

    def _sign(self, spec: TxSpec, nonce: int) -> SignedTx:
        """Sign one transaction with an explicit nonce and key (the coordinator owns nonces)."""
        _, key, _ = self._require_key()
        signer = self._signer_client()
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
            raise ExchangeError(f"signer refused {type(spec).__name__}: {self._scrub(str(error))}")
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
