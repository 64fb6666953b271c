"""Signing and sending transactions: shared nonces, batches of 50, retries (under `TradingApi`).

Every transaction is signed and sent while holding the (account, API key) nonce lock, with
nonces from the shared coordinator. An invalid-nonce reply resyncs and re-signs once; a 429, 5xx
or network error leaves the coordinator to resync (no gap) and the send is retried with backoff;
a rejection (HTTP 400) gives its nonce back. No SDK here: `_sign` is supplied by the client.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from exchange import parse
from exchange.budget import backoff_delays
from exchange.errors import (
    ExchangeError,
    NonceError,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from exchange.http import RestTransport
from exchange.nonces import NonceCoordinator
from exchange.orders import SignedTx, TxSpec, chunks
from exchange.types import SendResult

logger = logging.getLogger(__name__)

SEND_ATTEMPTS = 5
SEND_BACKOFF_BASE_S = 0.2
SEND_BACKOFF_CAP_S = 5.0
CLIENT_ORDER_INDEX_EXISTS = 21728


class TxSender:
    """Signed sends of transaction specs (mixin under `TradingApi`; see `LighterClient`)."""

    _http: RestTransport
    _nonces: NonceCoordinator | None

    if TYPE_CHECKING:  # supplied by LighterClient

        def _sign(self, spec: TxSpec, nonce: int) -> SignedTx: ...

        def _ensure_signer(self) -> None: ...

        def _sign_executor(self) -> Executor: ...

    async def send_specs(self, specs: Sequence[TxSpec]) -> list[SendResult]:
        """Sign and send transactions, `sendTxBatch` in chunks of at most 50, in order."""
        results: list[SendResult] = []
        for chunk in chunks(list(specs)):
            results.append(await self._submit(chunk))
        return results

    async def _submit(self, specs: list[TxSpec]) -> SendResult:
        delays = backoff_delays(SEND_BACKOFF_BASE_S, SEND_BACKOFF_CAP_S, SEND_ATTEMPTS)
        retried = False
        while True:
            try:
                return await self._submit_once(specs)
            except TransientError as exc:
                # Our own budget already waited its bound: retrying would multiply that wait.
                own_budget = isinstance(exc, RateLimitedError) and exc.status is None
                delay = None if own_budget else next(delays, None)
                if delay is None:
                    raise
                logger.info("send of %d tx retried in %.2fs after %s", len(specs), delay, exc)
                retried = True
                await asyncio.sleep(delay)
            except RejectedError as exc:
                # After an ambiguous failure the first attempt may have landed: the exchange
                # then refuses the duplicate client index, which means "already accepted".
                if retried and exc.code == CLIENT_ORDER_INDEX_EXISTS:
                    logger.info("send already accepted before a retry (%s)", exc.reason)
                    return SendResult(tx_hashes=())
                raise

    async def _submit_once(self, specs: list[TxSpec]) -> SendResult:
        if self._nonces is None:
            raise ExchangeError("writes need an API key and redis_url (shared nonces)")
        rejected: RejectedError | None = None
        async with self._nonces.reserve(count=len(specs)) as slot:
            resynced = False
            while True:
                signed = await self._sign_all(specs, slot.nonces)
                try:
                    body = await self._send(signed)
                except NonceError:
                    if resynced:
                        raise
                    resynced = True
                    await slot.resync()
                    continue
                except RejectedError as exc:
                    # A 400 does not consume the nonce: hand it out again.
                    slot.consume(0)
                    rejected = exc
                    break
                result = parse.parse_send_tx(body)
                if not result.tx_hashes:
                    result = SendResult(
                        tx_hashes=tuple(s.tx_hash for s in signed),
                        predicted_execution_time_ms=result.predicted_execution_time_ms,
                    )
                return result
        raise rejected

    async def _sign_all(self, specs: list[TxSpec], nonces: list[int]) -> list[SignedTx]:
        pairs = list(zip(specs, nonces, strict=True))
        # The SDK signer needs a running loop to be created, so that happens here; signing
        # itself runs on one dedicated worker thread: the Go signer is ~3x faster off the main
        # thread (bench/client_latency.py) and the event loop keeps serving streams meanwhile.
        self._ensure_signer()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._sign_executor(), lambda: [self._sign(spec, nonce) for spec, nonce in pairs]
        )

    async def _send(self, signed: list[SignedTx]) -> dict[str, Any]:
        if len(signed) == 1:
            return await self._http.post_form(
                "sendTx", {"tx_type": signed[0].tx_type, "tx_info": signed[0].tx_info}
            )
        return await self._http.post_form(
            "sendTxBatch",
            {
                "tx_types": json.dumps([s.tx_type for s in signed]),
                "tx_infos": json.dumps([s.tx_info for s in signed]),
            },
        )
