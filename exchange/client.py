"""The async Lighter client: one account's parts, composed over one transport and one signer.

`LighterClient` owns the collaborators and hands each part only what it needs:

- `http` (`exchange.http.RestTransport`): the one REST session, drawing on the shared request
  budget (`exchange.budget`, per L1 address in Redis), errors typed once (`exchange.errors`);
- `signer` (`exchange.signer.Signer`): the Go signer of the SDK, the only code that imports
  `lighter`; created lazily by the first call that signs (design decision 7);
- `reads` (`exchange.reads.ReadApi`): typed reads over the transport;
- `sender` (`exchange.sending.TxSender`): signs and sends under the key's shared nonces
  (`exchange.nonces`; one queue per key in a process: `exchange.process_lock`);
- `trading` (`exchange.trading.TradingApi`): orders, cancels, leverage, dead-man's switch,
  tracked as tickets in `tickets` (`exchange.tickets.TicketBook`);
- `execution` (`exchange.execution.ExecutionApi`): resolves tickets from the stream and REST,
  reconciles, closes positions verified.

Every public method of the parts is a method of the client too (same signature and docstring),
so callers hold one object. Streams: `open_stream` (`exchange.streams`).

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

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    Literal,
    ParamSpec,
    TypeVar,
    cast,
    overload,
)

if TYPE_CHECKING:
    import redis.asyncio as aioredis

from exchange.budget import BudgetUsage, RequestBudget, budget_name
from exchange.execution import POLL_FIRST_S, POLL_MAX_S, ExecutionApi
from exchange.http import DEFAULT_TIMEOUT_S, RestTransport
from exchange.nonces import NonceCoordinator
from exchange.reads import ReadApi
from exchange.redis_clients import async_redis_client
from exchange.sending import TxSender
from exchange.signer import AUTH_TOKEN_TTL_S, Signer, generate_api_key
from exchange.streams import AccountStream
from exchange.tickets import TicketBook
from exchange.trading import TradingApi

__all__ = ["AUTH_TOKEN_TTL_S", "LighterClient", "Tier", "default_ws_url", "generate_api_key"]

logger = logging.getLogger(__name__)

STANDARD_POLL_FIRST_S = 0.25
STANDARD_POLL_MAX_S = 2.0

Tier = Literal["standard", "premium"]

P = ParamSpec("P")
R = TypeVar("R")


class _PartMethod(Generic[P, R]):
    """A client method that is a part's method: same signature, same docstring, no wrapper.

    `place_order = _PartMethod("trading", TradingApi.place_order)` makes `client.place_order`
    the bound `client.trading.place_order`, typed as such.
    """

    def __init__(self, part: str, method: Callable[Concatenate[Any, P], R]) -> None:
        self._part = part
        self._name = method.__name__
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, client: None, owner: type[Any]) -> _PartMethod[P, R]: ...

    @overload
    def __get__(self, client: object, owner: type[Any]) -> Callable[P, R]: ...

    def __get__(
        self, client: object | None, owner: type[Any]
    ) -> _PartMethod[P, R] | Callable[P, R]:
        if client is None:
            return self
        return cast("Callable[P, R]", getattr(getattr(client, self._part), self._name))


def default_ws_url(base_url: str) -> str:
    """The websocket URL served next to a REST origin (`http(s)://h` -> `ws(s)://h/stream`)."""
    if base_url.startswith("https://"):
        return "wss://" + base_url[len("https://") :].rstrip("/") + "/stream"
    if base_url.startswith("http://"):
        return "ws://" + base_url[len("http://") :].rstrip("/") + "/stream"
    return base_url.rstrip("/") + "/stream"


class LighterClient:
    """One account's door to Lighter: typed reads, verified writes, shared nonces and budget.

    Only `base_url` is needed for public reads. Private reads and writes need `account_index`,
    `api_key_index` and `api_private_key`; sharing nonces and the request budget across
    processes needs `redis_url` (and `l1_address` names the budget, as Lighter counts by it;
    `budget_key` names it instead, so that a public-only client of an account spends that
    account's budget even when its L1 address is not known).
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
        budget_key: str | None = None,
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
        self.signer = Signer(
            self.base_url,
            chain_id=chain_id,
            account_index=account_index,
            api_key_index=api_key_index,
            api_private_key=api_private_key,
            clock=clock,
        )
        # Connections open lazily, on the loop that first uses them.
        self._redis = None if redis_url is None else async_redis_client(redis_url)
        self._budget: RequestBudget | None = None
        if self._redis is not None:
            key = budget_key or budget_name(self.l1_address, account_index)
            self._budget = RequestBudget(self._redis, key, tier, per_minute)
        self.http = RestTransport(
            self.base_url,
            budget=self._budget,
            auth_token=self.signer.auth_token,
            timeout_s=request_timeout_s,
        )
        self.reads = ReadApi(self.http, account_index)
        self.sender = TxSender(self.http, self.signer, self._nonce_coordinator())
        self.tickets = TicketBook()
        self.trading = TradingApi(self.sender, self.reads, self.tickets)
        # Lighter executes standard-tier orders after 200-300 ms: polling sooner is waste.
        standard = tier == "standard"
        self.execution = ExecutionApi(
            self.reads,
            self.trading,
            self.tickets,
            poll_first_s=STANDARD_POLL_FIRST_S if standard else POLL_FIRST_S,
            poll_max_s=STANDARD_POLL_MAX_S if standard else POLL_MAX_S,
        )

    def _nonce_coordinator(self) -> NonceCoordinator | None:
        if self._redis is None or self.account_index is None or self.api_key_index is None:
            return None
        key_index = self.api_key_index
        return NonceCoordinator(
            self._redis,
            self.account_index,
            key_index,
            lambda: self.reads.next_nonce(key_index),
        )

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
        """Open the HTTP session (Redis connects on first use)."""
        await self.http.open()

    async def close(self) -> None:
        """Release the HTTP session, the signer (its thread and HTTP client) and Redis."""
        await self.http.close()
        await self.signer.close()
        if self._redis is not None:
            await self._redis.aclose()

    @property
    def redis(self) -> aioredis.Redis | None:
        """This client's asyncio Redis (budget and nonces), None without a Redis URL; a bot
        runner renews its lease through it. Connections belong to the loop that first used it."""
        return self._redis

    def guard_sends(
        self,
        check: Callable[[], Awaitable[None]] | None,
        *,
        alive: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Run `check` once per transaction send, after any wait for budget, right before it is
        signed under the nonce lock; when it raises, nothing is sent and its nonces are handed
        out again (a bot runner checks that it still holds its lease).
        `alive` runs at every pause of any wait for budget, a send's before `check` (a runner
        renews its lease there and says what it waits for); raising gives the request up."""
        self.http.send_guard = check
        self.http.wait_hook = alive

    @property
    def budget(self) -> RequestBudget | None:
        """The shared request budget this client's requests draw from (None without Redis)."""
        return self._budget

    async def budget_usage(self) -> BudgetUsage | None:
        """Current use of the shared request budget (None without Redis)."""
        return None if self._budget is None else await self._budget.usage()

    def open_stream(self, market_ids: Sequence[int], **options: Any) -> AccountStream:
        """An account stream (books, trades, orders, fills, positions) for this account.

        Private channels get fresh tokens from `auth_token` on every (re)subscribe. Feed each
        event to `apply_event` so tickets resolve from the stream.
        """
        has_key = self.signer.has_key
        return AccountStream(
            self.ws_url,
            self.account_index if has_key else None,
            market_ids,
            self.signer.auth_token if has_key else None,
            **options,
        )

    # --- the key (signer) ---------------------------------------------------------------------
    check_api_key = _PartMethod("signer", Signer.check_api_key)
    auth_token = _PartMethod("signer", Signer.auth_token)

    # --- reads --------------------------------------------------------------------------------
    markets = _PartMethod("reads", ReadApi.markets)
    market = _PartMethod("reads", ReadApi.market)
    order_book = _PartMethod("reads", ReadApi.order_book)
    book_top = _PartMethod("reads", ReadApi.book_top)
    recent_trades = _PartMethod("reads", ReadApi.recent_trades)
    last_trade_price = _PartMethod("reads", ReadApi.last_trade_price)
    candles = _PartMethod("reads", ReadApi.candles)
    fundings = _PartMethod("reads", ReadApi.fundings)
    funding_rates = _PartMethod("reads", ReadApi.funding_rates)
    accounts_by_l1_address = _PartMethod("reads", ReadApi.accounts_by_l1_address)
    account = _PartMethod("reads", ReadApi.account)
    positions = _PartMethod("reads", ReadApi.positions)
    api_keys = _PartMethod("reads", ReadApi.api_keys)
    next_nonce = _PartMethod("reads", ReadApi.next_nonce)
    open_orders = _PartMethod("reads", ReadApi.open_orders)
    closed_orders = _PartMethod("reads", ReadApi.closed_orders)
    orders_by_client_index = _PartMethod("reads", ReadApi.orders_by_client_index)
    order_status = _PartMethod("reads", ReadApi.order_status)
    fills = _PartMethod("reads", ReadApi.fills)
    funding_payments = _PartMethod("reads", ReadApi.funding_payments)
    tx = _PartMethod("reads", ReadApi.tx)

    # --- writes -------------------------------------------------------------------------------
    send_specs = _PartMethod("sender", TxSender.send_specs)
    place_order = _PartMethod("trading", TradingApi.place_order)
    place_orders = _PartMethod("trading", TradingApi.place_orders)
    replace_orders = _PartMethod("trading", TradingApi.replace_orders)
    market_order = _PartMethod("trading", TradingApi.market_order)
    modify_order = _PartMethod("trading", TradingApi.modify_order)
    cancel_order = _PartMethod("trading", TradingApi.cancel_order)
    cancel_orders = _PartMethod("trading", TradingApi.cancel_orders)
    cancel_all = _PartMethod("trading", TradingApi.cancel_all)
    place_grouped = _PartMethod("trading", TradingApi.place_grouped)
    place_position_trigger = _PartMethod("trading", TradingApi.place_position_trigger)
    update_leverage = _PartMethod("trading", TradingApi.update_leverage)
    arm_dead_mans_switch = _PartMethod("trading", TradingApi.arm_dead_mans_switch)
    abort_dead_mans_switch = _PartMethod("trading", TradingApi.abort_dead_mans_switch)

    # --- verified execution -------------------------------------------------------------------
    apply_event = _PartMethod("execution", ExecutionApi.apply_event)
    reconcile_pending = _PartMethod("execution", ExecutionApi.reconcile_pending)
    refresh_ticket = _PartMethod("execution", ExecutionApi.refresh_ticket)
    resolve = _PartMethod("execution", ExecutionApi.resolve)
    reconcile = _PartMethod("execution", ExecutionApi.reconcile)
    cancel_verified = _PartMethod("execution", ExecutionApi.cancel_verified)
    close_position = _PartMethod("execution", ExecutionApi.close_position)
