"""The whole venue as JSON-ready data and back (pure: no I/O, no clock).

`dump(engine)` captures everything a restart must not forget: accounts (collateral, positions,
API keys, nonces, leverage, scheduled cancel-all), live orders (resting, triggers, TWAPs) in book
priority, finished orders, trades (and so candles), fundings, transactions, id counters, price
paths and the random generators. `load(config, data, now_ms=...)` rebuilds an `Engine` from it.
Lookup tables (orders by index and client index, expiry and cancel-all schedules) are derived
from those on load rather than stored. Money is Decimal strings.

The history part (trades, finished orders, final txs, fundings) only grows; a durable venue
journals it (`journal.py`) and then dumps only what came after the journal's cursor.

This module is the engine's and the state's friend: it reads and sets their private counters
and tables, so the state file round-trips without those classes knowing about files.
Transactions still waiting for their latency are not executed here: a clean shutdown drains them
first; after a crash they come back failed ("lost") with their nonce released when possible.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from exchange.simulator.config import SimConfig
from exchange.simulator.constants import TX_STATUS_FAILED, TX_STATUS_PENDING
from exchange.simulator.engine import HOUR_MS, MINUTE_MS, Engine
from exchange.simulator.journal import Cursor, tails
from exchange.simulator.liquidity import LiquidityAgent
from exchange.simulator.records import (
    SnapshotError,
    account_from,
    account_json,
    int_keys,
    objects,
    rows,
)
from exchange.simulator.state import ExchangeState
from exchange.simulator.types import FundingRecord, Order, PositionFunding, Trade, TxRecord

FORMAT = 1
LOST_TX_EVENT = '{{"a": {account}, "ae": "lost: the simulator stopped before executing it"}}'

__all__ = [
    "SnapshotError",
    "canonical",
    "dump",
    "fresh_engine",
    "load",
    "pending_until",
    "saved_time",
    "seed_ids",
]


# -- dump ---------------------------------------------------------------------------------------


def dump(engine: Engine, *, clean: bool, journaled: Cursor | None = None) -> dict[str, Any]:
    """The venue as JSON-ready data. `clean` says no tx was accepted after this point (a final
    save at shutdown): its id counters can be trusted as they are. With `journaled`, the history
    up to that cursor is left out (it is in the journal)."""
    state = engine.state
    rest = tails(engine, journaled or Cursor())
    table = {o.order_index: o for o in state.live_orders.values()}
    for finished in rest.orders.values():
        table.update((o.order_index, o) for o in finished)
    version, internal, gauss_next = state.rng.getstate()
    body = {
        "now_ms": state.now_ms,
        "markets": sorted(state.markets),
        "counters": {
            "order_seq": state._order_seq,
            "trade_id": state._trade_id,
            "tx_sequence": engine._sequence,
            "funding_id": engine._funding_id,
            "block_height": state.block_height,
        },
        "schedule": {"next_funding": engine._next_funding, "next_sample": engine._next_sample},
        "rng": [version, list(internal), gauss_next],
        "paths": {str(m): path.saved() for m, path in engine._paths.items()},
        "reference": {str(m): ticks for m, ticks in state.reference.items()},
        "treasury": str(state.treasury),
        "premium_samples": {str(m): [str(x) for x in r] for m, r in state.premium_samples.items()},
        "tx_hash": state.tx_hash,
        "accounts": [account_json(a) for a in state.accounts.values()],
        "orders": rows(Order, (table[i] for i in sorted(table))),
        "live": list(state.live_orders),
        "inactive": {str(a): [o.order_index for o in r] for a, r in rest.orders.items()},
        "conditional": {str(m): list(r) for m, r in state.conditional.items()},
        "books": {
            str(m): {
                "asks": [o.order_index for o in book.asks.iter_orders()],
                "bids": [o.order_index for o in book.bids.iter_orders()],
            }
            for m, book in state.books.items()
        },
        "twaps": [list(item) for item in state.twaps],
        "trades": rows(Trade, rest.trades),
        "fundings": {str(m): rows(FundingRecord, r) for m, r in rest.fundings.items()},
        "position_fundings": {
            str(a): rows(PositionFunding, r) for a, r in rest.position_fundings.items()
        },
        "txs": rows(TxRecord, rest.txs),
    }
    return {"format": FORMAT, "clean": clean, "engine": body}


# -- load ---------------------------------------------------------------------------------------


def saved_time(data: dict[str, Any]) -> int:
    """The simulated time the venue was saved at (SnapshotError when the data is not a venue)."""
    _check_format(data)
    try:
        return int(data["engine"]["now_ms"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"malformed state: no saved time ({exc})") from exc


def _check_format(data: Any) -> None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise SnapshotError(f"unknown state format {found!r} (expected {FORMAT})")


def load(
    config: SimConfig,
    data: dict[str, Any],
    *,
    now_ms: int,
    journal: Iterable[dict[str, Any]] = (),
) -> Engine:
    """An engine in the saved state (`journal`: the history entries that precede it). `now_ms`
    (>= the saved time) is when it resumes: periodic work (price steps, funding) restarts from
    there, while expiries and scheduled cancel-alls that fell due in between run at the first
    advance, as they would have."""
    _check_format(data)
    try:
        body = _with_journal(data["engine"], journal)
        return _load(config, body, clean=bool(data.get("clean")), now_ms=now_ms)
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise SnapshotError(f"malformed state: {type(exc).__name__}: {exc}") from exc


def _with_journal(body: dict[str, Any], journal: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The state's history sections with the journal's rows in front (as objects)."""
    trades: list[Trade] = []
    finished: dict[int, list[Order]] = {}
    txs: list[TxRecord] = []
    fundings: dict[int, list[FundingRecord]] = {}
    paid: dict[int, list[PositionFunding]] = {}
    for entry in journal:
        kind, key = entry["kind"], entry["key"]
        if kind == "trades":
            trades += objects(Trade, entry)
        elif kind == "orders":
            finished.setdefault(int(key), []).extend(objects(Order, entry))
        elif kind == "txs":
            txs += objects(TxRecord, entry)
        elif kind == "fundings":
            fundings.setdefault(int(key), []).extend(objects(FundingRecord, entry))
        else:
            paid.setdefault(int(key), []).extend(objects(PositionFunding, entry))
    table = {o.order_index: o for o in objects(Order, body["orders"])}
    for account, indexes in int_keys(body["inactive"]).items():
        finished.setdefault(account, []).extend(table[i] for i in indexes)
    for m, block in int_keys(body["fundings"]).items():
        fundings.setdefault(m, []).extend(objects(FundingRecord, block))
    for a, block in int_keys(body["position_fundings"]).items():
        paid.setdefault(a, []).extend(objects(PositionFunding, block))
    return {
        **body,
        "orders": table,
        "inactive": finished,
        "trades": trades + objects(Trade, body["trades"]),
        # Submit order: a tx journaled late (it was pending) still sorts where it was sent.
        "txs": sorted(txs + objects(TxRecord, body["txs"]), key=lambda r: r.sequence_index),
        "fundings": fundings,
        "position_fundings": paid,
    }


def _load(config: SimConfig, body: dict[str, Any], *, clean: bool, now_ms: int) -> Engine:
    missing = set(body["markets"]) - {m.market_id for m in config.markets}
    if missing:
        raise SnapshotError(f"the state has markets {sorted(missing)} the config does not")
    saved_now = int(body["now_ms"])
    engine = Engine(config, now_ms=saved_now)
    state = ExchangeState(config, now_ms=saved_now)
    version, internal, gauss_next = body["rng"]
    state.rng.setstate((version, tuple(internal), gauss_next))
    for row in body["accounts"]:
        account = account_from(row)
        state.accounts[account.index] = account
    _load_orders(state, body)
    state.reference.update(int_keys(body["reference"]))
    state.treasury = Decimal(body["treasury"])
    for m, samples in int_keys(body["premium_samples"]).items():
        state.premium_samples[m] = [Decimal(x) for x in samples]
    state.tx_hash = str(body["tx_hash"])
    counters = body["counters"]
    state._order_seq = int(counters["order_seq"])
    state._trade_id = int(counters["trade_id"])
    state.block_height = int(counters["block_height"])
    for trade in body["trades"]:
        state.history.add_trade(trade)
    state.history.fundings.update(body["fundings"])
    state.history.position_fundings.update(body["position_fundings"])
    engine.state = state
    engine._sequence = int(counters["tx_sequence"])
    engine._funding_id = int(counters["funding_id"])
    for record in body["txs"]:
        engine._txs[record.hash] = record
        engine._account_txs.setdefault(record.account_index, []).append(record)
    _resume_schedule(engine, body, saved_now=saved_now, now_ms=now_ms)
    _rebind_liquidity(engine)
    _ensure_config_accounts(engine, config)
    if not clean:
        _fail_lost_txs(engine)
    state.events.clear()
    return engine


def _load_orders(state: ExchangeState, body: dict[str, Any]) -> None:
    """Live and finished orders, and the lookup tables and schedules derived from them."""
    table: dict[int, Order] = body["orders"]
    for account, finished in body["inactive"].items():
        state.inactive[account] = finished
        for order in finished:
            state.all_orders[order.order_index] = order
            if order.client_order_index:
                state.last_by_client[(account, order.client_order_index)] = order
    for i in body["live"]:
        order = table[i]
        owner = order.owner_account_index
        state.live_orders[i] = order
        state.all_orders[i] = order
        state.account_live[owner][i] = order
        if order.client_order_index:
            # A live order is the latest with its client index: a new one needs the old gone.
            state.live_by_client[(owner, order.client_order_index)] = order
            state.last_by_client[(owner, order.client_order_index)] = order
        if order.position_tied:
            state.tied[owner].add(i)
        if order.order_expiry > 0:
            state.expiries.append((order.order_expiry, i))
    heapq.heapify(state.expiries)
    for m, indexes in int_keys(body["conditional"]).items():
        state.conditional[m] = {i: table[i] for i in indexes}
    for m, sides in int_keys(body["books"]).items():
        # Re-adding best first, oldest first within a level, keeps time priority.
        for i in sides["asks"] + sides["bids"]:
            state.books[m].add(table[i])
    state.scheduled_cancel_alls = [
        (a.cancel_all_time, a.index) for a in state.accounts.values() if a.cancel_all_time
    ]
    heapq.heapify(state.scheduled_cancel_alls)
    state.twaps = [(int(at), int(i)) for at, i in body["twaps"]]
    heapq.heapify(state.twaps)


def _resume_schedule(engine: Engine, body: dict[str, Any], *, saved_now: int, now_ms: int) -> None:
    down_ms = max(0, now_ms - saved_now)
    for m, saved in int_keys(body["paths"]).items():
        path = engine._paths.get(m)
        if path is not None:
            path.restore(saved, shift_ms=down_ms)
    schedule = body["schedule"]
    next_funding, next_sample = int(schedule["next_funding"]), int(schedule["next_sample"])
    # Funding is paid on the hour: hours the venue was down are skipped, not paid at once.
    if next_funding <= now_ms and down_ms:
        next_funding = (now_ms // HOUR_MS + 1) * HOUR_MS
    if next_sample <= now_ms and down_ms:
        next_sample = (now_ms // MINUTE_MS + 1) * MINUTE_MS
    engine._next_funding, engine._next_sample = next_funding, next_sample


def _rebind_liquidity(engine: Engine) -> None:
    """The background market maker quotes from the restored state (its account and orders were
    saved like any other); a state saved without it gets a fresh ladder."""
    agent = engine.liquidity
    state = engine.state
    if agent is None:
        for account in [a for a in state.accounts.values() if a.is_system]:
            for order in list(state.account_live.get(account.index, {}).values()):
                state.finish(order, "canceled")
        return
    saved = state.accounts.get(agent.account.index)
    if saved is None:
        agent = engine.liquidity = LiquidityAgent(state, agent.config)
    else:
        agent.state, agent.account = state, saved
    quoted = {o.market_id for o in state.account_live.get(agent.account.index, {}).values()}
    for market_id in sorted(set(state.markets) - quoted):
        agent.requote(market_id)  # a market new to the config (or a state saved without it)


def _ensure_config_accounts(engine: Engine, config: SimConfig) -> None:
    """Accounts of the config exist, with the config's API keys and tier: re-keying the paper
    account (provisioning writes a new public key) or switching its tier keeps its balance,
    positions and orders."""
    for acc in config.accounts:
        if acc.index not in engine.state.accounts:
            engine.add_account(acc.l1_address, acc.collateral, acc.api_keys, acc.index, acc.tier)
            continue
        engine.state.accounts[acc.index].tier = acc.tier
        for key_index, public_key in acc.api_keys.items():
            engine.register_api_key(acc.index, key_index, public_key)


def _fail_lost_txs(engine: Engine) -> None:
    # Newest first, so a lost run of nonces n, n+1, n+2 is released back to n.
    for record in reversed(engine._txs.values()):
        if record.status != TX_STATUS_PENDING:
            continue
        record.status = TX_STATUS_FAILED
        record.event_info = LOST_TX_EVENT.format(account=record.account_index)
        nonces = engine.state.accounts[record.account_index].nonces
        if nonces.get(record.api_key_index) == record.nonce + 1:
            nonces[record.api_key_index] = record.nonce


def fresh_engine(config: SimConfig, *, now_ms: int, id_floor: int) -> Engine:
    """A new venue from its config whose ids all start above `id_floor` (the liquidity agent's
    first ladder is placed again, so not even its orders reuse an index)."""
    engine = Engine(config, now_ms=now_ms)
    seed_ids(engine, id_floor)
    if engine.liquidity is not None:
        for market_id in sorted(engine.state.markets):
            engine.liquidity.requote(market_id)
    engine.state.events.clear()
    return engine


def seed_ids(engine: Engine, floor: int) -> None:
    """Raise every id counter to at least `floor` (from the wall clock), so ids handed out
    before a lost or stale state file are never handed out again."""
    state = engine.state
    state._order_seq = max(state._order_seq, floor)
    state._trade_id = max(state._trade_id, floor)
    engine._sequence = max(engine._sequence, floor)
    engine._funding_id = max(engine._funding_id, floor)
    state.block_height = max(state.block_height, floor)


def pending_until(engine: Engine) -> int | None:
    """When the last accepted, not yet executed tx is due (None when there is none)."""
    due = [r.execute_at for r in engine._txs.values() if r.status == TX_STATUS_PENDING]
    return max(due, default=None)


def canonical(data: dict[str, Any]) -> str:
    """Stable text of a snapshot's venue part (tests compare two venues with it)."""
    return json.dumps(data["engine"], sort_keys=True, separators=(",", ":"))
