"""The session log of a grid bot: what its strategy core saw and what it decided, in order.

The runner's core is `LoggedGridStrategy`: the pure `GridStrategy` plus a buffer that notes every
input that can change the core (`start`, and the events of `on_event`) and every decision that
acted, with the wall-clock time. The runner hands the buffer's entries (`take`) to the burst
transaction it writes anyway (`bots.engine.reports.burst_record`), which stores them as one
`SessionChunk` row: JSON lines, with the core's state before the first line, so every chunk is a
point a replay can start from (`bots.backtest.replay`). No second transaction per burst.

Why the database and not an append-only file under var/: the write is fenced with the burst it
belongs to (a runner that lost its lease logs nothing, and the log never disagrees with the
recorded orders and fills), a bot moves between workers and hosts with its log, and the admin
and `bot_replay` read it where the rest of the bot is. The cost is one INSERT in a transaction
the burst commits anyway (docs/benchmarks.md, "Session log").

Only what changes the core is stored, so a quiet book costs nothing:

- a book change only when the book was stale (after a fill: the only time it changes the core);
- the bot's own position only when it moved; the exchange's position only when it moved;
- a decision when it returned intents, moved the lattice, or followed a stored input; a
  decision that did none of these (a book tick inside the centre's band) is only counted
  (`quiet` on the next stored decision): replaying it would change nothing.

Entries ride with the next burst the runner records anyway (order reports, fills, sent batches)
or, past `FLUSH_ENTRIES`, force a record of their own; a crash loses at most that unrecorded
tail. The grid runner tells its core no `Tick` or `OrderEnded` today (the format has them for
cores that take them); operator commands are context only (the core never sees them: a paused
runner simply asks for no decision).

Entry format (JSON arrays; `t` epoch milliseconds; Decimals as strings):

    ["open", t]                                     a runner's session starts (config on the chunk)
    ["start", t, mid, anchor, centre]               GridStrategy.start
    ["book", t]                                     BookChanged
    ["traded", t, side, level]                      OrderTraded
    ["fill", t, side, size, level, coi, price]      Filled
    ["pos", t, size]  /  ["own", t, size]           PositionSet / OwnPosition
    ["tick", t, now_ms]  /  ["ended", t, coi, why]  Tick / OrderEnded
    ["decide", t, bid, ask, mid, working, intents, quiet, mark]
        mark: the exchange's mark price the exits judged, null when none was known (chunks
        written before it was logged, 2026-12-08, end at quiet: replayed as no mark, i.e. exits
        on the mid)
        working: [[coi, level, side, price, size, status], ...]
        intents: ["P", level, side, price, size, post_only] | ["C", coi]
                 | ["H", trigger, flatten] | ["M", side, size, worst_price, reduce_only]
    ["cmd", t, desired_state, seq]                  an operator command (not a core input)
    ["set", t, {name: value}]                       live settings changed (a config change:
                                                    the stop-loss or take-profit price)

Retention: `prune` (run by the minute's PnL snapshot task) deletes chunks older than
`KEEP_DAYS` and, per bot, all but the newest `KEEP_CHUNKS`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from bots.engine import inserts
from bots.models import Bot, SessionChunk
from bots.strategies.grid import GridConfig, GridState, LiveOrder, MarketView
from bots.strategies.grid.config import SizeMode, Spacing
from bots.strategies.grid.strategy import GridStrategy
from bots.strategies.hedge import HedgeSnapshot, Transition
from bots.strategies.protocol import (
    BookChanged,
    Cancel,
    Decide,
    Event,
    Filled,
    Halt,
    Intent,
    Leg,
    MarketOrder,
    OrderEnded,
    OrderTraded,
    OwnPosition,
    Place,
    PositionSet,
    Tick,
)
from exchange.book import BookReplica

KEEP_DAYS = 14
KEEP_CHUNKS = 50_000
# A buffer this long is written with the next burst even if it has nothing else to record.
FLUSH_ENTRIES = 256

Entry = list[Any]


def now_ms() -> int:
    """Wall clock in epoch milliseconds (the log's time base)."""
    return time.time_ns() // 1_000_000


# --- config and state ------------------------------------------------------------------------


def config_dump(config: GridConfig) -> dict[str, Any]:
    """The config as JSON: Decimals as strings, enums as their values."""
    out: dict[str, Any] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        out[f.name] = str(value) if isinstance(value, Decimal | Spacing | SizeMode) else value
    return out


_DECIMAL_FIELDS = frozenset(
    f.name for f in fields(GridConfig) if "Decimal" in str(f.type) and f.name != "spacing"
)


def config_load(data: dict[str, Any]) -> GridConfig:
    """Inverse of `config_dump` (unknown keys are an error naming them)."""
    known = {f.name for f in fields(GridConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown config fields: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name == "spacing":
            values[name] = Spacing(value)
        elif name == "size_mode":
            values[name] = SizeMode(value)
        elif name in _DECIMAL_FIELDS and value is not None:
            values[name] = Decimal(value)
        else:
            values[name] = value
    return GridConfig(**values)


def state_dump(state: GridState | None, position_base: Decimal, book_fresh: bool) -> dict[str, Any]:
    """The core's whole state (what a replay starts from)."""
    return {
        "anchor": None if state is None else str(state.anchor),
        "centre": None if state is None else state.centre,
        "pos": str(position_base),
        "fresh": book_fresh,
    }


# --- encoding --------------------------------------------------------------------------------


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def working_dump(working: list[LiveOrder]) -> list[list[Any]]:
    """Working orders as compact rows."""
    return [
        [o.client_order_index, o.level, str(o.side), str(o.price), str(o.size_base), o.status]
        for o in working
    ]


def intents_dump(intents: list[Intent]) -> list[list[Any]]:
    """Intents as compact rows (see the module docstring)."""
    out: list[list[Any]] = []
    for i in intents:
        if isinstance(i, Place):
            o = i.order
            out.append(["P", o.level, str(o.side), str(o.price), str(o.size_base), o.post_only])
        elif isinstance(i, Cancel):
            out.append(["C", i.client_order_index])
        elif isinstance(i, Halt):
            out.append(["H", str(i.trigger), str(i.flatten_base)])
        elif isinstance(i, MarketOrder):
            out.append(["M", str(i.side), str(i.size_base), str(i.worst_price), i.reduce_only])
    return out


def _event_entry(t: int, event: Event) -> Entry | None:
    if isinstance(event, BookChanged):
        return ["book", t]
    if isinstance(event, OrderTraded):
        return ["traded", t, str(event.side), event.level]
    if isinstance(event, Filled):
        return ["fill", t, str(event.side), str(event.size_base), event.level,
                event.client_order_index, _s(event.price)]  # fmt: skip
    if isinstance(event, PositionSet):
        return ["pos", t, str(event.size_base)]
    if isinstance(event, OwnPosition):
        return ["own", t, str(event.size_base)]
    if isinstance(event, Tick):
        return ["tick", t, event.now_ms]
    if isinstance(event, OrderEnded):
        return ["ended", t, event.client_order_index, event.reason]
    return None


# --- the runner's side -----------------------------------------------------------------------


@dataclass
class Pending:
    """Entries taken from the buffer, to be written as one chunk (on the DB thread)."""

    state: dict[str, Any]
    entries: list[Entry]
    config: dict[str, Any] | None = None


@dataclass
class SessionBuffer:
    """Entries not yet written, and the core's state before the first of them."""

    entries: list[Entry] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] | None = None
    # A stored input since the last stored decision (the next decision is stored).
    since_decide: bool = False
    quiet: int = 0
    last_exchange_position: Decimal | None = None

    @property
    def due(self) -> bool:
        """Long enough to be written even with nothing else to record."""
        return len(self.entries) >= FLUSH_ENTRIES

    def take(self) -> Pending | None:
        """The entries so far (None when there are none); the buffer starts over."""
        if not self.entries:
            return None
        pending = Pending(self.state, self.entries, self.config)
        self.entries, self.config = [], None
        return pending


@dataclass
class LoggedGridStrategy(GridStrategy):
    """The grid core with its session log (the core's behaviour is unchanged)."""

    log: SessionBuffer = field(default_factory=SessionBuffer, compare=False)

    def __post_init__(self) -> None:
        self.log.state = state_dump(self.state, self.position_base, self.book_fresh)
        self.log.config = config_dump(self.config)
        self.log.entries.append(["open", now_ms()])

    def _note(self, entry: Entry, *, core: bool = True) -> None:
        log = self.log
        if not log.entries:  # the state before the chunk's first entry (nothing applied yet)
            log.state = state_dump(self.state, self.position_base, self.book_fresh)
        log.entries.append(entry)
        log.since_decide = log.since_decide or core

    def start(self, mid: Decimal, anchor: Decimal | None, centre: int | None) -> GridState:
        """`GridStrategy.start`, noted."""
        self._note(["start", now_ms(), str(mid), _s(anchor), centre])
        return super().start(mid, anchor, centre)

    def on_event(self, event: Event) -> list[Intent]:
        """`GridStrategy.on_event`, noting what can change the core and the decisions that acted."""
        if isinstance(event, Decide):
            return self._decide_noted(event)
        if isinstance(event, BookChanged):
            if not self.book_fresh:
                self._note(["book", now_ms()])
        elif isinstance(event, OwnPosition):
            if event.size_base != self.position_base:
                self._note(["own", now_ms(), str(event.size_base)])
        elif isinstance(event, PositionSet):
            if event.size_base != self.log.last_exchange_position:
                self.log.last_exchange_position = event.size_base
                self._note(["pos", now_ms(), str(event.size_base)])
        else:
            entry = _event_entry(now_ms(), event)
            if entry is not None:
                self._note(entry)
        return super().on_event(event)

    def _decide_noted(self, event: Decide) -> list[Intent]:
        before = self.state
        log = self.log
        first = not log.entries
        fresh = self.book_fresh
        intents = super().on_event(event)
        if not intents and self.state == before and not log.since_decide:
            log.quiet += 1  # a book tick inside the band: replaying it would change nothing
            return intents
        if first:
            log.state = state_dump(before, self.position_base, fresh)
        m = event.market
        log.entries.append(
            ["decide", now_ms(), _s(m.best_bid), _s(m.best_ask), str(m.mid),
             working_dump(list(event.working)), intents_dump(intents), log.quiet, _s(m.mark)]
        )  # fmt: skip
        log.since_decide, log.quiet = False, 0
        return intents

    def settings_apply(self, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """`GridStrategy.settings_apply`, noted when it changed something (the replay applies
        it at the same point)."""
        changed = super().settings_apply(values)
        if changed:
            self._note(["set", now_ms(), {name: _s(new) for name, (_, new) in changed.items()}])
        return changed

    def command(self, desired: str, seq: int) -> None:
        """An operator command the runner applied (context for a replay, not a core input)."""
        self._note(["cmd", now_ms(), desired, seq], core=False)

    # --- what the runner reads (bots.engine.kinds.RunStrategy) --------------------------------

    @property
    def post_only(self) -> bool:
        return self.config.post_only

    @property
    def ready(self) -> bool:
        """Decides once its lattice is placed (`begin`)."""
        return self.state is not None

    @property
    def finished(self) -> bool:
        """A grid runs until stopped."""
        return False

    @property
    def run_state_fields(self) -> tuple[str, ...]:
        return ("anchor_price", "centre_index")

    def begin(self, mid: Decimal, saved: dict[str, Any], now_ms: int) -> dict[str, Any]:
        """Restore the lattice of earlier runs (anchor and centre), or start one at `mid`."""
        state = self.start(mid, saved.get("anchor_price"), saved.get("centre_index"))
        return {"anchor_price": state.anchor, "centre_index": state.centre}

    def run_state(self) -> dict[str, Any]:
        return {} if self.state is None else {"centre_index": self.state.centre}

    def run_state_note(self, mid: Decimal) -> str:
        centre = None if self.state is None else self.state.centre
        return f"centre {centre} @ {mid}"

    def plan_note(
        self, market: MarketView, created: list[int], cancelled: list[int]
    ) -> tuple[str, str, dict[str, Any]]:
        centre = None if self.state is None else self.state.centre
        message = f"centre {centre} @ {market.mid}: {self.last_reason}"
        return "plan", message, {"centre": centre, "created": created, "cancelled": cancelled}

    def turn(self, now_ms: int, book: BookReplica) -> None:
        return None

    def sent(self, leg: Leg, client_order_index: int) -> None:
        return None

    def reconcile_may_run(self) -> bool:
        return True

    def waits_for_cancel(self) -> bool:
        return False

    def behind(self) -> bool:
        return False

    def drain_transitions(self) -> list[Transition]:
        return []

    def snapshot(self) -> HedgeSnapshot | None:
        return None

    def close_slippage(self) -> Decimal | None:
        return None

    def log_take(self) -> Pending | None:
        return self.log.take()

    @property
    def log_due(self) -> bool:
        return self.log.due


def write(bot: Bot, pending: Pending | None, connection: BaseDatabaseWrapper | None = None) -> None:
    """Store taken entries as one chunk (inside the caller's fenced transaction, on its
    `connection` when given): one plain-SQL INSERT (`bots.engine.inserts`)."""
    if pending is None:
        return
    lines = "\n".join(json.dumps(e, separators=(",", ":")) for e in pending.entries)
    chunk = SessionChunk(
        bot_id=bot.pk,
        first_ms=pending.entries[0][1],
        last_ms=pending.entries[-1][1],
        count=len(pending.entries),
        state=pending.state,
        config=pending.config,
        entries=lines,
    )
    inserts.insert(connection or transaction.get_connection(), [chunk])


def prune(now: datetime) -> int:
    """Delete chunks older than KEEP_DAYS, and per bot all but the newest KEEP_CHUNKS."""
    cutoff = int((now - timedelta(days=KEEP_DAYS)).timestamp() * 1000)
    deleted, _ = SessionChunk.objects.filter(last_ms__lt=cutoff).delete()
    for bot_id in SessionChunk.objects.values_list("bot_id", flat=True).distinct():
        rows = SessionChunk.objects.filter(bot_id=bot_id).order_by("-id")
        oldest_kept = rows.values_list("id", flat=True)[KEEP_CHUNKS - 1 : KEEP_CHUNKS]
        for pk in oldest_kept:
            deleted += SessionChunk.objects.filter(bot_id=bot_id, id__lt=pk).delete()[0]
    return deleted
