"""Signing and sending transactions: shared nonces, batches of 50, retries.

Every transaction is signed and sent while holding the (account, API key) nonce lock, with
nonces from the shared coordinator. An invalid-nonce reply resyncs and re-signs once; a 429, 5xx
or network error leaves the coordinator to resync (no gap) and the send is retried with backoff;
a rejection (HTTP 400) gives its nonce back. The request budget is taken *before* the nonce
lock: a caller waiting for budget (routine traffic) never holds the key's lock, so an operator
command on the same key never waits behind it. The transport's send guard runs once per send,
under the lock right before signing (the last moment before the POST that costs no resync: a
send it refuses gives its nonces back). No SDK here: signing is the `TxSigner`'s
(`exchange.signer.Signer` in the client).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from exchange import parse
from exchange.budget import backoff_delays
from exchange.errors import (
    ExchangeError,
    NonceError,
    RateLimitedError,
    RejectedError,
    TransientError,
    pause,
    redis_unreachable_is_transient,
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


class TxSigner(Protocol):
    """What sending needs of a signer: transactions signed with the nonces it is given."""

    async def sign_all(self, specs: Sequence[TxSpec], nonces: Sequence[int]) -> list[SignedTx]:
        """Sign `specs`, one nonce each, in order."""
        ...


class TxSender:
    """Signed sends of transaction specs over one transport, under one key's shared nonces.

    `nonces` is None for a client without a key or without Redis: every send then refuses.
    """

    def __init__(
        self, http: RestTransport, signer: TxSigner, nonces: NonceCoordinator | None
    ) -> None:
        self._http = http
        self._signer = signer
        self._nonces = nonces

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
                await pause(delay)
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
        refused: Exception | None = None
        await self._http.spend(_endpoint(len(specs)), guarded=True)
        paid = True
        with redis_unreachable_is_transient():
            async with self._nonces.reserve(count=len(specs)) as slot:
                refused = await self._guard_refuses()
                if refused is not None:
                    # Nothing signed, nothing sent: the nonces are handed out again, and no
                    # resync is needed (that is for sends whose fate is unknown).
                    slot.consume(0)
                resynced = False
                while refused is None:
                    signed = await self._signer.sign_all(specs, slot.nonces)
                    try:
                        body = await self._send(signed, paid=paid)
                    except NonceError:
                        paid = False  # the resent request takes its own budget
                        if resynced:
                            raise
                        resynced = True
                        await slot.resync()
                        continue
                    except RejectedError as exc:
                        # A 400 does not consume the nonce: hand it out again.
                        slot.consume(0)
                        refused = exc
                        break
                    result = parse.parse_send_tx(body)
                    if not result.tx_hashes:
                        result = SendResult(
                            tx_hashes=tuple(s.tx_hash for s in signed),
                            predicted_execution_time_ms=result.predicted_execution_time_ms,
                        )
                    return result
        assert refused is not None  # the loop ends only by returning or with a refusal
        raise refused

    async def _guard_refuses(self) -> Exception | None:
        """Run the transport's send guard (a runner: lease held, no operator command first),
        once per send, under the nonce lock right before signing: what it raised, or None."""
        if self._http.send_guard is None:
            return None
        try:
            await self._http.send_guard()
        except Exception as exc:  # the guard's own refusal (LeaseLost, a dropped send, weather)
            return exc
        return None

    async def _send(self, signed: list[SignedTx], *, paid: bool) -> dict[str, Any]:
        if len(signed) == 1:
            return await self._http.post_form(
                "sendTx", {"tx_type": signed[0].tx_type, "tx_info": signed[0].tx_info}, paid=paid
            )
        return await self._http.post_form(
            "sendTxBatch",
            {
                "tx_types": json.dumps([s.tx_type for s in signed]),
                "tx_infos": json.dumps([s.tx_info for s in signed]),
            },
            paid=paid,
        )


def _endpoint(count: int) -> str:
    return "sendTx" if count == 1 else "sendTxBatch"
