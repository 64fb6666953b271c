"""The venue's append-only history (trades, finished orders, executed txs, fundings) as a journal.

History only grows and never changes once written: a finished order, a trade, an executed tx
or a funding payment stays as it is. Rewriting all of it every few seconds would cost seconds of
CPU after a week of paper trading, so each save appends only what became final since the last
one (JSON lines) and the small state file names the journal and how many of its bytes are
committed. A crash between the two leaves extra bytes that the next save cuts off.

`Cursor` counts what is journaled per sequence; `take` turns what came after it into entries.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exchange.simulator.constants import TX_STATUS_PENDING
from exchange.simulator.engine import Engine
from exchange.simulator.records import SnapshotError, rows
from exchange.simulator.types import FundingRecord, Order, PositionFunding, Trade, TxRecord

KINDS = ("trades", "orders", "txs", "fundings", "position_fundings")


@dataclass
class Cursor:
    """How much of each history is journaled: trades overall, the rest per account / market."""

    trades: int = 0
    orders: dict[int, int] = field(default_factory=dict)
    txs: dict[int, int] = field(default_factory=dict)
    fundings: dict[int, int] = field(default_factory=dict)
    position_fundings: dict[int, int] = field(default_factory=dict)


@dataclass
class Tails:
    """The history after a cursor: what the state file itself must still hold."""

    trades: list[Trade]
    orders: dict[int, list[Order]]
    txs: list[TxRecord]
    fundings: dict[int, list[FundingRecord]]
    position_fundings: dict[int, list[PositionFunding]]


def _final_prefix(records: list[TxRecord], start: int) -> int:
    """End of the run of executed (or failed) txs from `start`: a pending tx and everything
    submitted after it stay in the state file until they are final."""
    end = start
    while end < len(records) and records[end].status != TX_STATUS_PENDING:
        end += 1
    return end


def tails(engine: Engine, cursor: Cursor) -> Tails:
    """Everything of the history not journaled up to `cursor`."""
    history = engine.state.history
    txs = [
        record
        for account, records in engine._account_txs.items()
        for record in records[cursor.txs.get(account, 0) :]
    ]
    return Tails(
        trades=history.trades[cursor.trades :],
        orders={
            account: finished[cursor.orders.get(account, 0) :]
            for account, finished in engine.state.inactive.items()
            if len(finished) > cursor.orders.get(account, 0)
        },
        txs=sorted(txs, key=lambda r: r.sequence_index),
        fundings={m: r[cursor.fundings.get(m, 0) :] for m, r in history.fundings.items()},
        position_fundings={
            a: r[cursor.position_fundings.get(a, 0) :]
            for a, r in history.position_fundings.items()
            if len(r) > cursor.position_fundings.get(a, 0)
        },
    )


def take(engine: Engine, cursor: Cursor) -> tuple[list[dict[str, Any]], Cursor]:
    """Journal entries for what became final since `cursor`, and the cursor after them."""
    history = engine.state.history
    entries: list[dict[str, Any]] = []
    after = Cursor(
        trades=len(history.trades),
        orders=dict(cursor.orders),
        txs=dict(cursor.txs),
        fundings=dict(cursor.fundings),
        position_fundings=dict(cursor.position_fundings),
    )
    if len(history.trades) > cursor.trades:
        entries.append(_entry("trades", None, rows(Trade, history.trades[cursor.trades :])))
    for account, finished in engine.state.inactive.items():
        done = cursor.orders.get(account, 0)
        if len(finished) > done:
            entries.append(_entry("orders", account, rows(Order, finished[done:])))
            after.orders[account] = len(finished)
    for account, records in engine._account_txs.items():
        done = cursor.txs.get(account, 0)
        end = _final_prefix(records, done)
        if end > done:
            entries.append(_entry("txs", account, rows(TxRecord, records[done:end])))
            after.txs[account] = end
    for market_id, paid in history.fundings.items():
        done = cursor.fundings.get(market_id, 0)
        if len(paid) > done:
            entries.append(_entry("fundings", market_id, rows(FundingRecord, paid[done:])))
            after.fundings[market_id] = len(paid)
    for account, payments in history.position_fundings.items():
        done = cursor.position_fundings.get(account, 0)
        if len(payments) > done:
            block = rows(PositionFunding, payments[done:])
            entries.append(_entry("position_fundings", account, block))
            after.position_fundings[account] = len(payments)
    return entries, after


def _entry(kind: str, key: int | None, block: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "key": key, **block}


def cursor_of(entries: Iterable[dict[str, Any]]) -> Cursor:
    """The cursor after reading `entries` back (everything in them is journaled)."""
    cursor = Cursor()
    for entry in entries:
        count, key = len(entry["rows"]), entry["key"]
        if entry["kind"] == "trades":
            cursor.trades += count
        else:
            counts: dict[int, int] = getattr(cursor, entry["kind"])
            counts[key] = counts.get(key, 0) + count
    return cursor


class JournalFile:
    """One JSON-lines file; only its first `committed` bytes count (the state file says how
    many), so a crash mid-append loses nothing that was committed and duplicates nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, committed: int) -> list[dict[str, Any]]:
        """The committed entries; SnapshotError when the file is shorter or malformed."""
        if committed == 0:
            return []
        try:
            with self.path.open("rb") as handle:
                data = handle.read(committed)
        except OSError as exc:
            raise SnapshotError(f"cannot read the history journal {self.path}: {exc}") from exc
        if len(data) < committed:
            raise SnapshotError(f"the history journal {self.path} is shorter than committed")
        entries = []
        for number, line in enumerate(data.splitlines(), start=1):
            try:
                entry = json.loads(line)
            except ValueError as exc:
                raise SnapshotError(f"{self.path} line {number} is not JSON: {exc}") from exc
            if not isinstance(entry, dict) or entry.get("kind") not in KINDS:
                raise SnapshotError(f"{self.path} line {number} is not a history entry")
            entries.append(entry)
        return entries

    def append(self, entries: list[dict[str, Any]], *, committed: int) -> int:
        """Cut the file back to `committed` bytes, append `entries`, fsync; the new length."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+b") as handle:
            handle.truncate(committed)
            handle.seek(committed)
            for entry in entries:
                handle.write(json.dumps(entry, separators=(",", ":")).encode() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
            return handle.tell()
