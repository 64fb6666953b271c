"""The simulated Lighter exchange core: `Engine` (pure, deterministic, no I/O, no clock).

The server owns the clock and calls `submit_tx` / `submit_batch` when requests arrive and
`advance(now_ms)` periodically; `advance` runs everything due in time order (queued txs after
their tier latency, one API key's txs always in nonce order; order expiries, scheduled
cancel-alls, price-path steps with trigger checks, liquidity requotes and liquidations, hourly
funding) and returns the events. Same config, seed
and inputs give the same fills.

Simplifications, on purpose (lighter-api.md marks most of these behaviours unconfirmed):
* L1 (Ethereum) signatures are not verified (tx signatures are: signing.py);
* a market order's Price bounds its average execution price (fills stop where one more lot
  would push the average past it);
* IOC/market remainders end `canceled` / `canceled-too-much-slippage` /
  `canceled-not-enough-liquidity`; self-trade equality mode "7" is treated as "same account";
* margin: open orders reserve the worst-case extra position at mark; funding is the clamped
  book-mid premium, paid hourly; liquidation closes whole positions at mark into an insurance fund;
* TWAP orders are sliced every `twap_slice_ms` (twap.py); unsupported txs (transfers, pools,
  staking, account config...) answer 21505.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import logging
from decimal import Decimal
from typing import Any

from exchange.simulator import executor, orders, twap, txs
from exchange.simulator.config import TIERS, SimConfig
from exchange.simulator.constants import (
    TX_STATUS_EXECUTED,
    TX_STATUS_FAILED,
    TX_STATUS_PENDING,
)
from exchange.simulator.executor import QueuedTx
from exchange.simulator.liquidation import liquidate_underwater
from exchange.simulator.liquidity import LiquidityAgent
from exchange.simulator.margin import apply_funding, funding_rate, premium
from exchange.simulator.orders import ExecError
from exchange.simulator.prices import PricePath, make_path
from exchange.simulator.reads import EngineReads
from exchange.simulator.signing import SignatureCheck
from exchange.simulator.state import ExchangeState
from exchange.simulator.types import (
    Account,
    ApiKey,
    Event,
    FundingApplied,
    PriceChanged,
    SimError,
    TxExecuted,
    TxRecord,
)

logger = logging.getLogger(__name__)

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
MAX_BATCH = 50


class Engine(EngineReads):
    """A Lighter-compatible exchange in memory. Every time-dependent call takes `now_ms`."""

    def __init__(self, config: SimConfig, *, now_ms: int) -> None:
        self.config = config
        self.state = ExchangeState(config, now_ms=now_ms)
        self._queue: list[tuple[int, int, list[QueuedTx]]] = []
        self._queue_seq = 0
        # Latest execution time queued per (account, API key): one key's txs run in nonce order.
        self._key_horizon: dict[tuple[int, int], int] = {}
        self._txs: dict[str, TxRecord] = {}
        self.signatures = SignatureCheck(config.chain_ids, verify=config.verify_signatures)
        self._account_txs: dict[int, list[TxRecord]] = {}
        self._sequence = 0
        self._funding_id = 0
        self._next_funding = (now_ms // HOUR_MS + 1) * HOUR_MS
        self._next_sample = (now_ms // MINUTE_MS + 1) * MINUTE_MS
        self._paths: dict[int, PricePath] = {}
        for spec in config.markets:
            path = make_path(
                spec.initial_price,
                config.price_paths.get(spec.market_id),
                start_ms=now_ms,
                seed=config.seed * 1000 + spec.market_id,
            )
            self._paths[spec.market_id] = path
            self.state.reference[spec.market_id] = self._ticks(spec.market_id, path.price)
        for acc in config.accounts:
            self.add_account(acc.l1_address, acc.collateral, acc.api_keys, acc.index, acc.tier)
        self.liquidity: LiquidityAgent | None = None
        if config.liquidity.enabled:
            self.liquidity = LiquidityAgent(self.state, config.liquidity)
            for market_id in self.state.markets:
                self.liquidity.requote(market_id)
        self.state.events.clear()

    # -- accounts -------------------------------------------------------------------------

    def add_account(
        self,
        l1_address: str,
        collateral: Decimal,
        api_keys: dict[int, str] | None = None,
        index: int | None = None,
        tier: str = "standard",
    ) -> Account:
        """Create a funded account (index auto-assigned when None); keys are public key hex."""
        state = self.state
        if index is None:
            index = state.next_account_index()
        if index in state.accounts:
            raise SimError(21107, "invalid account")
        if tier not in TIERS:
            raise SimError(62002, "invalid tier")
        account = Account(index, l1_address, Decimal(collateral), tier, created_at=state.now_ms)
        state.accounts[index] = account
        for key_index, public_key in (api_keys or {}).items():
            self.register_api_key(index, key_index, public_key)
        return account

    def register_api_key(self, account_index: int, api_key_index: int, public_key_hex: str) -> None:
        """Register (or replace) an API public key for an account."""
        account = self.account(account_index)
        key = public_key_hex.removeprefix("0x").lower()
        account.api_keys[api_key_index] = ApiKey(account_index, api_key_index, key)

    # -- transactions ---------------------------------------------------------------------

    def submit_tx(
        self,
        tx_type: int,
        tx_info: dict[str, Any] | str,
        *,
        now_ms: int,
        price_protection: bool = True,
    ) -> TxRecord:
        """API-level checks, then queue the tx for execution after the account's latency.

        Raises SimError (nonce not consumed) on rejection. Returns the pending TxRecord.
        """
        return self.submit_batch(
            [(tx_type, tx_info)], now_ms=now_ms, price_protection=price_protection
        )[0]

    def submit_batch(
        self,
        txs_in: list[tuple[int, dict[str, Any] | str]],
        *,
        now_ms: int,
        price_protection: bool = True,
        halve: frozenset[int] = frozenset(),
    ) -> list[TxRecord]:
        """Validate a whole batch (all-or-nothing), then queue it to execute back to back.

        `halve` lists create-order txs (by position) that execute for half their size: the
        server's partial-fill fault, applied after the signature was checked.
        """
        if not txs_in:
            raise SimError(21513, "TxInfos and TxTypes should have the same length")
        if len(txs_in) > MAX_BATCH:
            raise SimError(21514, "maximum 50 transactions allowed per batch")
        if len(self._queue) >= self.config.max_pending_txs:
            raise SimError(21506, "too many pending txs. Please try again later")
        parsed: list[tuple[int, dict[str, Any], str]] = [txs.parse_tx(t, i) for t, i in txs_in]
        queued: list[QueuedTx] = []
        latency = 0
        first: tuple[int, int] | None = None
        running_nonce: int | None = None
        for position, (tx_type, info, _) in enumerate(parsed):
            try:
                account, key_index, nonce = txs.check_envelope(
                    self.state, tx_type, info, now_ms=now_ms, expected_nonce=running_nonce
                )
            except SimError as err:
                if err.code == 21104 and running_nonce is not None:
                    raise SimError(21105, "batch transaction nonce is not increasing") from err
                raise
            if first is None:
                first = (account.index, key_index)
            elif first != (account.index, key_index):
                raise SimError(
                    21121, "all transactions in the batch must have use same account and apikey"
                )
            payload = txs.check_body(
                self.state, tx_type, info, account, now_ms=now_ms, price_protection=price_protection
            )
            key = account.api_keys.get(key_index)
            tx_hash = self.signatures.signer_hash(tx_type, info, key.public_key_hex if key else "")
            if position in halve and isinstance(payload, txs.OrderRequest):
                payload = dataclasses.replace(payload, base_amount=max(1, payload.base_amount // 2))
            kind = executor.latency_class(self.state, tx_type, payload)
            latency = max(latency, self.config.latency_for(account.tier, kind))
            queued.append(
                QueuedTx(
                    tx_hash,
                    tx_type,
                    info,
                    account.index,
                    key_index,
                    nonce,
                    payload,
                )
            )
            running_nonce = nonce + 1
        if len(queued) > 1:
            txs.check_increasing([q.nonce for q in queued])
        assert first is not None
        # Lighter sequences one API key's txs by nonce: a tx of a faster latency class (a cancel
        # right after a taker order) waits for the key's earlier txs instead of overtaking them.
        execute_at = max(now_ms + latency, self._key_horizon.get(first, now_ms))
        self._key_horizon[first] = execute_at
        return self._enqueue(queued, parsed, execute_at, now_ms)

    def _enqueue(
        self,
        queued: list[QueuedTx],
        parsed: list[tuple[int, dict[str, Any], str]],
        execute_at: int,
        now_ms: int,
    ) -> list[TxRecord]:
        records = []
        for item, (_, info, text) in zip(queued, parsed, strict=True):
            account = self.state.accounts[item.account_index]
            account.nonces[item.api_key_index] = item.nonce + 1
            self._sequence += 1
            record = TxRecord(
                hash=item.tx_hash, type=item.tx_type, info=text, event_info="",
                status=TX_STATUS_PENDING,
                account_index=account.index, api_key_index=item.api_key_index, nonce=item.nonce,
                expire_at=int(info.get("ExpiredAt", 0)), block_height=0, queued_at=now_ms,
                executed_at=0, sequence_index=self._sequence, transaction_time=now_ms * 1000,
                l1_address=account.l1_address, execute_at=execute_at,
            )  # fmt: skip
            self._txs[record.hash] = record
            self._account_txs.setdefault(account.index, []).append(record)
            records.append(record)
        self._queue_seq += 1
        heapq.heappush(self._queue, (execute_at, self._queue_seq, queued))
        return records

    # -- time -----------------------------------------------------------------------------

    def advance(self, now_ms: int) -> list[Event]:
        """Run everything due up to `now_ms` in time order and return the events produced."""
        state = self.state
        while True:
            due = self._next_due()
            if due is None or due[0] > now_ms:
                break
            at, kind, key = due
            state.now_ms = max(state.now_ms, at)
            self._run(kind, key)
            state.flush()
        state.now_ms = max(state.now_ms, now_ms)
        events, state.events = state.events, []
        return events

    def _next_due(self) -> tuple[int, int, int] | None:
        """(time, priority, key) of the earliest scheduled item; ties resolve by priority."""
        state = self.state
        candidates: list[tuple[int, int, int]] = []
        if state.expiries:
            candidates.append((state.expiries[0][0], 0, 0))
        if state.scheduled_cancel_alls:
            candidates.append((state.scheduled_cancel_alls[0][0], 1, 0))
        for market_id, path in self._paths.items():
            candidates.append((path.next_at, 2, market_id))
        if self.config.funding_enabled:
            candidates.append((self._next_sample, 3, 0))
            candidates.append((self._next_funding, 4, 0))
        if state.twaps:
            candidates.append((state.twaps[0][0], 5, 0))
        if self._queue:
            candidates.append((self._queue[0][0], 6, 0))
        return min(candidates) if candidates else None

    def _run(self, kind: int, key: int) -> None:
        state = self.state
        if kind == 0:
            orders.expire_due(state, state.now_ms)
        elif kind == 1:
            at, account_index = heapq.heappop(state.scheduled_cancel_alls)
            account = state.accounts[account_index]
            if account.cancel_all_time == at:
                account.cancel_all_time = 0
                orders.cancel_all(state, account_index, None)
        elif kind == 2:
            self._set_reference(key, self._paths[key].step())
        elif kind == 3:
            for market_id in sorted(state.markets):
                sample = premium(state, market_id)
                if sample is not None:
                    state.premium_samples[market_id].append(sample)
            self._next_sample += MINUTE_MS
        elif kind == 4:
            self._apply_funding()
        elif kind == 5:
            twap.run_due(state, state.now_ms)
        else:
            _, _, batch = heapq.heappop(self._queue)
            for item in batch:
                self._execute(item)

    def _execute(self, item: QueuedTx) -> None:
        state = self.state
        record = self._txs[item.tx_hash]
        state.tx_hash = item.tx_hash
        state.block_height += 1
        try:
            if record.expire_at and record.expire_at < state.now_ms:
                self._release_nonce(item)
                raise ExecError(21711, "invalid expiry")
            executor.execute(state, item)
        except ExecError as err:
            logger.debug("tx %s of account %d failed: %s", item.tx_hash, item.account_index, err)
            record.status = TX_STATUS_FAILED
            record.event_info = f'{{"a": {item.account_index}, "ae": {json.dumps(err.message)}}}'
        else:
            record.status = TX_STATUS_EXECUTED
            record.event_info = f'{{"a": {item.account_index}, "ae": ""}}'
        record.executed_at = state.now_ms
        record.block_height = state.block_height
        record.transaction_time = state.transaction_time_us()
        state.flush()
        state.events.append(TxExecuted(record))

    def _release_nonce(self, item: QueuedTx) -> None:
        """A tx that expires before executing does not consume its nonce (lighter-api.md §3.9),
        as long as no later tx of the same key was accepted after it."""
        nonces = self.state.accounts[item.account_index].nonces
        if nonces.get(item.api_key_index) == item.nonce + 1:
            nonces[item.api_key_index] = item.nonce

    def _ticks(self, market_id: int, price: Decimal) -> int:
        units = self.state.markets[market_id].units
        return max(1, int(price.scaleb(units.price_decimals).to_integral_value()))

    def _set_reference(self, market_id: int, price: Decimal) -> None:
        state = self.state
        ticks = self._ticks(market_id, price)
        changed = ticks != state.reference[market_id]
        state.reference[market_id] = ticks
        state.events.append(PriceChanged(market_id, ticks))
        state.tx_hash = txs.tx_hash(0, f"reference:{market_id}:{state.now_ms}")
        # Requote first so triggered stop orders execute against a book at the new price.
        if self.liquidity is not None and changed:
            self.liquidity.requote(market_id)
        orders.check_triggers(state, market_id)
        if self.config.liquidations_enabled and changed:
            liquidate_underwater(state, market_id)

    def _apply_funding(self) -> None:
        state = self.state
        for market_id in sorted(state.markets):
            self._funding_id += 1
            rate = funding_rate(state, market_id, self.config.funding_clamp)
            state.premium_samples[market_id].clear()
            record = apply_funding(state, market_id, rate, self._funding_id)
            state.events.append(FundingApplied(market_id, record))
            if self.config.liquidations_enabled:
                liquidate_underwater(state, market_id)
        self._next_funding += HOUR_MS

    def set_reference_price(self, market_id: int, price: Decimal) -> None:
        """Jump a market's reference (index/mark) price now; the path continues from it.

        Triggers and the liquidity agent react at once; the events come with the next advance().
        """
        if market_id not in self._paths:
            raise SimError(21602, "invalid market index")
        self._paths[market_id].reset(Decimal(price))
        self._set_reference(market_id, Decimal(price))
        self.state.flush()

    # -- tx reads -------------------------------------------------------------------------

    def tx(self, tx_hash_hex: str) -> TxRecord | None:
        """A tx by hash."""
        return self._txs.get(tx_hash_hex.removeprefix("0x").lower())

    def account_txs(self, account_index: int, limit: int = 100) -> list[TxRecord]:
        """The account's txs, newest first."""
        return self._account_txs.get(account_index, [])[-limit:][::-1]

    def pending_tx_count(self) -> int:
        """Batches waiting for execution."""
        return len(self._queue)
