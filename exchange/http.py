"""REST transport to Lighter: shared rate budget, typed errors, bounded retries (no SDK).

Every request first draws its weight from the per-L1-address budget in Redis, so callers wait
instead of earning 429s (in the lane of their context: `exchange.budget.operator_lane`). A
transaction (POST) must also pass the `send_guard`, if one is set: at every pause of its wait
for budget here, and once more right before it is signed (`exchange.sending.TxSender`, under the
nonce lock). A caller that waited may no longer be entitled to send (a bot runner whose lease
moved meanwhile), and the guard raising drops the send.

A real 429 penalises the whole budget and is retried with exponential backoff and jitter; 5xx
and network errors are retried the same way when the request is safe to repeat. Bodies are read
with `Decimal` for JSON floats, so no float reaches an amount.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

import aiohttp

from exchange.budget import RequestBudget, backoff_delays, weight_for
from exchange.errors import (
    ExchangeError,
    RateLimitedError,
    TransientError,
    error_for_code,
    error_from_response,
    map_exception,
    pause,
    redis_unreachable_is_transient,
    unreachable_error,
)

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1/"
DEFAULT_TIMEOUT_S = 15.0
RETRY_ATTEMPTS = 6
BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 8.0
# Penalty applied to the shared budget after a real 429 (Lighter sends no Retry-After).
RATE_LIMIT_PENALTY_S = 1.0

Params = Mapping[str, Any]


def _query(params: Params | None) -> dict[str, str]:
    query: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            query[key] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            query[key] = ",".join(str(v) for v in value)
        else:
            query[key] = str(value)
    return query


class RestTransport:
    """One aiohttp session to a Lighter REST origin, drawing on a shared request budget."""

    def __init__(
        self,
        base_url: str,
        *,
        budget: RequestBudget | None = None,
        auth_token: Callable[[], Awaitable[str]] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        budget_timeout_s: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self.auth_token = auth_token
        self.timeout_s = timeout_s
        self.budget_timeout_s = budget_timeout_s
        self._session: aiohttp.ClientSession | None = None
        self.requests_sent = 0
        self.rate_limited_replies = 0
        # Checked at every pause of a send's wait for budget, and by the sender (TxSender) once
        # per send under the nonce lock right before signing; raising drops the send.
        self.send_guard: Callable[[], Awaitable[None]] | None = None
        # Run at every pause of any wait for budget, a send's before its guard (the caller shows
        # it is alive, and may say what it waits for).
        self.wait_hook: Callable[[], Awaitable[None]] | None = None

    def __repr__(self) -> str:
        return f"RestTransport({self.base_url!r})"

    async def open(self) -> None:
        """Open the HTTP session (idempotent)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(
        self, endpoint: str, params: Params | None = None, *, auth: bool = False
    ) -> dict[str, Any]:
        """GET `/api/v1/<endpoint>`; reads are safe to repeat, so transient errors are retried."""
        return await self._with_retries(
            lambda: self._once("GET", endpoint, params=params, auth=auth), endpoint
        )

    async def get_root(self, path: str) -> dict[str, Any]:
        """GET a path outside /api/v1 (status, info), retried like any read."""
        return await self._with_retries(lambda: self._once("GET", path, raw_path=True), path)

    async def post_form(self, endpoint: str, form: Params, *, paid: bool = False) -> dict[str, Any]:
        """POST a form once (transactions): the caller decides about retries and nonces.

        `paid`: the caller already took this request's budget (`spend`), before a lock that
        must not be held while waiting for budget."""
        return await self._once("POST", endpoint, form=form, paid=paid)

    async def spend(self, endpoint: str, *, guarded: bool = False) -> None:
        """Take one request of `endpoint` from the budget now (waiting in the current lane).

        `guarded` (a transaction): the send guard also runs while waiting, so a send that is
        no longer wanted gives up its wait instead of holding the caller; a read runs the wait
        hook instead."""
        if self.budget is not None:
            with redis_unreachable_is_transient():
                await self.budget.acquire(
                    weight_for(endpoint),
                    timeout_s=self.budget_timeout_s,
                    while_waiting=self._send_paused if guarded else self.wait_hook,
                )

    async def _send_paused(self) -> None:
        if self.wait_hook is not None:
            await self.wait_hook()
        if self.send_guard is not None:
            await self.send_guard()

    async def _with_retries(
        self, attempt: Callable[[], Awaitable[dict[str, Any]]], endpoint: str
    ) -> dict[str, Any]:
        delays = backoff_delays(BACKOFF_BASE_S, BACKOFF_CAP_S, RETRY_ATTEMPTS)
        while True:
            try:
                return await attempt()
            except TransientError as exc:
                # Our own budget already waited its bound: do not multiply that wait.
                own_budget = isinstance(exc, RateLimitedError) and exc.status is None
                delay = None if own_budget else next(delays, None)
                if delay is None:
                    raise
                logger.info("retrying %s in %.2fs after %s", endpoint, delay, exc)
                await pause(delay)

    async def _once(
        self,
        method: str,
        endpoint: str,
        *,
        params: Params | None = None,
        form: Params | None = None,
        auth: bool = False,
        raw_path: bool = False,
        paid: bool = False,
    ) -> dict[str, Any]:
        if self._session is None:
            await self.open()
        assert self._session is not None
        if not paid:
            await self.spend(endpoint, guarded=method == "POST")
        headers: dict[str, str] = {}
        if auth:
            if self.auth_token is None:
                raise ExchangeError(f"{endpoint} needs an API key (auth token) and none is set")
            headers["authorization"] = await self.auth_token()
        path = endpoint if raw_path else API_PREFIX + endpoint.lstrip("/")
        url = self.base_url + path
        self.requests_sent += 1
        try:
            async with self._session.request(
                method,
                url,
                params=_query(params),
                data=None if form is None else _query(form),
                headers=headers,
            ) as response:
                status = response.status
                text = await response.text()
        except (aiohttp.ClientConnectorError, TimeoutError) as exc:
            # DNS, refused, unreachable, timeout: say so, not "rejected" or a bare class name.
            raise unreachable_error(self.base_url, exc) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise map_exception(exc) from exc
        if status != 200:
            error = error_from_response(status, text)
            if isinstance(error, RateLimitedError):
                await self._on_rate_limited()
            raise error
        return self._decode(endpoint, text)

    async def _on_rate_limited(self) -> None:
        self.rate_limited_replies += 1
        if self.budget is not None:
            with redis_unreachable_is_transient():
                await self.budget.penalise(RATE_LIMIT_PENALTY_S)

    @staticmethod
    def _decode(endpoint: str, text: str) -> dict[str, Any]:
        try:
            body = json.loads(text, parse_float=Decimal) if text else {}
        except ValueError as exc:
            raise TransientError(f"{endpoint}: unreadable reply {text[:200]!r}") from exc
        if not isinstance(body, dict):
            raise TransientError(f"{endpoint}: unexpected reply {text[:200]!r}")
        code = body.get("code")
        if isinstance(code, int) and code not in (0, 200):
            raise error_for_code(code, str(body.get("message") or ""), status=200)
        return body
