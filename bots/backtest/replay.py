"""Decision diff of a real session: the bot's session log replayed through the current core.

`replay(bot, start_ms, end_ms, overrides)` reads the bot's `SessionChunk`s (written by the
runner, `bots.engine.session_log`), feeds every recorded input to a fresh `GridStrategy` of the
session's config (with `overrides` applied, if any) in the recorded order, and at every recorded
decision compares the intents the core returns now with the ones the live core returned then.
The first decision that differs is reported with what led to it: the inputs since the previous
decision, the core's state before it, the market and working orders it decided on, and both
lists of intents. An unchanged core on an unchanged config replays with zero differences (the
core is pure); a different config (`--step`, `--override`) answers "what would this grid have
done on that session?" up to its first different decision.

Replay starts at the session start (a runner's first chunk) or, with `start_ms`, at the chunk
that contains it (every chunk stores the core's state before its first entry); only decisions
in [start_ms, end_ms] are compared. After a difference the replay goes on against the recorded
working orders, counting the decisions that differ (the core's state has left the live one's,
so only the first is an explanation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from bots.engine.session_log import Entry, config_dump, config_load, intents_dump
from bots.models import GridBot, SessionChunk
from bots.strategies.grid import GridConfig, GridState, LiveOrder, MarketView
from bots.strategies.grid.config import Lattice, Side, Spacing, step_from_percent
from bots.strategies.grid.strategy import GridStrategy
from bots.strategies.protocol import (
    BookChanged,
    Decide,
    Event,
    Filled,
    Leg,
    OrderEnded,
    OrderTraded,
    OwnPosition,
    PositionSet,
    Tick,
)

# Inputs shown before a differing decision.
SHOWN_INPUTS = 12


class ReplayError(ValueError):
    """A replay that cannot run: `field` names the argument at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Difference:
    """The first decision the current core makes differently, with what led to it."""

    event: int  # its number among the replayed events (1-based)
    decision: int  # its number among the compared decisions (1-based)
    time_ms: int
    inputs: list[Entry]
    state: dict[str, Any]
    market: tuple[str | None, str | None, str]
    working: list[list[Any]]
    expected: list[list[Any]]
    got: list[list[Any]]


@dataclass
class ReplayReport:
    """What a replay found."""

    bot_id: int
    events: int = 0
    decisions: int = 0
    differences: int = 0
    first: Difference | None = None
    first_ms: int | None = None
    last_ms: int | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """One line: differences in events (the admin's message, the command's last line)."""
        head = f"{self.differences} differences in {self.events} events"
        tail = f" ({self.decisions} decisions compared"
        if self.overrides:
            tail += ", with " + ", ".join(f"{k}={v}" for k, v in self.overrides.items())
        return head + tail + ")"

    def text(self) -> str:
        """The full report (`manage.py bot_replay`)."""
        lines = [f"bot {self.bot_id}: replay of {_span(self.first_ms, self.last_ms)}"]
        lines += [f"note: {n}" for n in self.notes]
        d = self.first
        if d is not None:
            lines += [
                f"first difference: event {d.event}, decision {d.decision}, at {_when(d.time_ms)}",
                "  inputs since the previous decision:",
                *(f"    {_when(e[1])}  {_entry_text(e)}" for e in d.inputs),
                "  core state before it: " + _state_text(d.state),
                f"  market: bid {d.market[0]} ask {d.market[1]} mid {d.market[2]}; "
                f"{len(d.working)} working orders",
                *(f"    {_working_text(w)}" for w in d.working),
                "  expected (live):  " + _intents_text(d.expected),
                "  got (replay):     " + _intents_text(d.got),
            ]
        lines.append(self.summary)
        return "\n".join(lines)


def parse_overrides(
    config: GridConfig, step: str | None, pairs: list[str] | tuple[str, ...] = ()
) -> dict[str, str]:
    """`--step X` (in the bot's unit: price, or percent for a geometric grid) and
    `--override field=value` pairs (GridConfig fields and units) as one dict of config values."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ReplayError("--override", f"expected field=value, got {pair!r}")
        out[name.strip()] = value.strip()
    if step is not None:
        try:
            number = Decimal(step)
        except InvalidOperation:
            raise ReplayError("--step", f"not a number: {step!r}") from None
        if not number.is_finite() or number <= 0:
            raise ReplayError("--step", f"must be a positive number, got {step!r}")
        if config.spacing is Spacing.GEOMETRIC:
            number = step_from_percent(number)
        out["step"] = str(number)
    return out


def configured(config: GridConfig, overrides: dict[str, str]) -> GridConfig:
    """`config` with `overrides` applied (ReplayError naming the field when one is bad)."""
    if not overrides:
        return config
    data = config_dump(config)
    for name, value in overrides.items():
        if name not in data:
            raise ReplayError("--override", f"unknown field {name!r}")
        data[name] = _typed(name, value, data[name])
    try:
        return config_load(data)
    except ValueError as exc:
        raise ReplayError("--override", str(exc)) from None


def _typed(name: str, value: str, old: Any) -> Any:
    if value.lower() in ("", "none", "null"):
        return None
    if isinstance(old, bool) or name in ("post_only", "flatten_on_stop"):
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ReplayError("--override", f"{name}: expected true or false, got {value!r}")
        return value.lower() in ("true", "1", "yes")
    if isinstance(old, int) or name in ("levels_per_side", "max_open_orders"):
        try:
            return int(value)
        except ValueError:
            raise ReplayError("--override", f"{name}: not a whole number: {value!r}") from None
    if name in ("spacing", "size_mode"):
        return value
    try:
        Decimal(value)
    except InvalidOperation:
        raise ReplayError("--override", f"{name}: not a number: {value!r}") from None
    return value


def settings_set(config: GridConfig, entry: Entry) -> GridConfig:
    """`config` with a `set` entry's live settings (the operator changed them while it ran)."""
    data = config_dump(config)
    data.update(entry[2])
    return config_load(data)


def replay(
    bot: GridBot,
    start_ms: int | None = None,
    end_ms: int | None = None,
    overrides: dict[str, str] | None = None,
) -> ReplayReport:
    """Replay the bot's recorded session(s) in [start_ms, end_ms] through the current core."""
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise ReplayError("--from", "is after --to")
    overrides = overrides or {}
    report = ReplayReport(bot.pk, overrides=dict(overrides))
    rows = SessionChunk.objects.filter(bot_id=bot.pk).order_by("id")
    if start_ms is not None:
        base = rows.filter(first_ms__lte=start_ms).order_by("-id").values_list("id", flat=True)
        first_id = base.first()
        rows = rows.filter(id__gte=first_id) if first_id else rows.filter(first_ms__gte=start_ms)
    if end_ms is not None:
        rows = rows.filter(first_ms__lte=end_ms)
    first = rows.first()
    if first is None:
        report.notes.append("no session log in this range")
        return report
    leg = Leg(bot.account_id, bot.market_id)
    earlier = (
        SessionChunk.objects.filter(bot_id=bot.pk, id__lte=first.pk, config__isnull=False)
        .order_by("-id")
        .values_list("id", "config")
        .first()
    )
    if earlier is None:
        report.notes.append("the session's config was pruned: the bot's current config is used")
        live = bot.grid_config()
    else:
        live = config_load(cast(dict[str, Any], earlier[1]))  # not null: filtered above
        # Live settings the session changed between its config and the replay's first chunk.
        before = SessionChunk.objects.filter(
            bot_id=bot.pk, id__gte=earlier[0], id__lt=first.pk, entries__contains='["set",'
        ).order_by("id")
        for text in before.values_list("entries", flat=True):
            for line in text.splitlines():
                if line.startswith('["set",'):
                    live = settings_set(live, json.loads(line))
    session = _Session(leg, live, overrides, report, start_ms, end_ms)
    session.restore(first.state)
    for chunk in rows.iterator():
        if chunk.config is not None:
            live = config_load(chunk.config)
        for line in chunk.entries.splitlines():
            entry: Entry = json.loads(line)
            if entry[0] == "open":
                session = session.fresh(live)
            else:
                session.apply(entry)
    return report


class _Session:
    """One runner's session being replayed: the core, and where the replay stands."""

    def __init__(
        self,
        leg: Leg,
        live: GridConfig,
        overrides: dict[str, str],
        report: ReplayReport,
        start_ms: int | None,
        end_ms: int | None,
    ) -> None:
        self.leg, self.live, self.overrides, self.report = leg, live, overrides, report
        self.config = configured(live, overrides)
        self.strategy = GridStrategy(leg, self.config)
        self.start_ms, self.end_ms = start_ms, end_ms
        self.inputs: list[Entry] = []

    def fresh(self, live: GridConfig) -> _Session:
        """A new runner started: a fresh core of its config."""
        return _Session(self.leg, live, self.overrides, self.report, self.start_ms, self.end_ms)

    def restore(self, state: dict[str, Any]) -> None:
        """Set the core to a chunk's recorded state (the lattice remapped to the config)."""
        s = self.strategy
        if state.get("anchor") is not None:
            s.state = self._remap(Decimal(state["anchor"]), int(state["centre"]))
        s.position_base = Decimal(state.get("pos", "0"))
        s.book_fresh = bool(state.get("fresh", True))

    def _remap(self, anchor: Decimal, centre: int) -> GridState:
        # The live centre's price, on the replayed config's lattice (the same when unchanged).
        if self.config == self.live:
            return GridState(anchor, centre)
        price = Lattice(anchor, self.live).raw_price(centre)
        return GridState(anchor, Lattice(anchor, self.config).index_nearest(price))

    def _in_window(self, t: int) -> bool:
        return (self.start_ms is None or t >= self.start_ms) and (
            self.end_ms is None or t <= self.end_ms
        )

    def apply(self, entry: Entry) -> None:
        """Feed one recorded entry to the core (comparing decisions in the window)."""
        kind, t = entry[0], int(entry[1])
        if self.end_ms is not None and t > self.end_ms:
            return
        counted = self._in_window(t)
        report = self.report
        if counted:
            report.events += 1
            report.first_ms = t if report.first_ms is None else report.first_ms
            report.last_ms = t
        if kind == "decide":
            self._decide(entry, counted)
            self.inputs = []
            return
        self.inputs = [*self.inputs[-(SHOWN_INPUTS - 1) :], entry]
        if kind == "start":
            mid, anchor, centre = Decimal(entry[2]), _dec(entry[3]), entry[4]
            s = self.strategy
            if anchor is not None and centre is not None:
                remapped = self._remap(anchor, int(centre))
                s.start(mid, anchor, remapped.centre)
            else:
                s.start(mid, anchor, None)
            return
        if kind == "set":
            self.live = settings_set(self.live, entry)
            self.config = configured(self.live, self.overrides)
            self.strategy.config = self.config
            return
        event = self._event(entry)
        if event is not None:
            self.strategy.on_event(event)

    def _event(self, e: Entry) -> Event | None:
        leg, kind = self.leg, e[0]
        if kind == "book":
            return BookChanged(leg)
        if kind == "traded":
            return OrderTraded(leg, Side(e[2]), e[3])
        if kind == "fill":
            return Filled(leg, Side(e[2]), Decimal(e[3]), e[4], e[5], _dec(e[6]))
        if kind == "pos":
            return PositionSet(leg, Decimal(e[2]))
        if kind == "own":
            return OwnPosition(leg, Decimal(e[2]))
        if kind == "tick":
            return Tick(int(e[2]))
        if kind == "ended":
            return OrderEnded(leg, int(e[2]), str(e[3]))
        return None  # "cmd": context only

    def _decide(self, e: Entry, counted: bool) -> None:
        s = self.strategy
        before = _state_of(s, self.config)
        bid, ask, mid = _dec(e[2]), _dec(e[3]), Decimal(e[4])
        working = [
            LiveOrder(w[1], Side(w[2]), Decimal(w[3]), Decimal(w[4]), int(w[0]), str(w[5]))
            for w in e[5]
        ]
        mark = _dec(e[8]) if len(e) > 8 else None  # chunks before the mark was logged
        got = intents_dump(s.on_event(Decide(self.leg, MarketView(bid, ask, mid, mark), working)))
        if not counted:
            return
        report = self.report
        report.decisions += 1
        expected: list[list[Any]] = e[6]
        if _norm(got) == _norm(expected):
            return
        report.differences += 1
        if report.first is None:
            report.first = Difference(
                event=report.events, decision=report.decisions, time_ms=int(e[1]),
                inputs=list(self.inputs), state=before, market=(e[2], e[3], e[4]),
                working=e[5], expected=expected, got=got,
            )  # fmt: skip


def _state_of(s: GridStrategy, config: GridConfig) -> dict[str, Any]:
    state = s.state
    out: dict[str, Any] = {"position": str(s.position_base), "book_fresh": s.book_fresh}
    if state is not None:
        centre_price = Lattice(state.anchor, config).raw_price(state.centre)
        out |= {"anchor": str(state.anchor), "centre": state.centre, "centre_price": centre_price}
    return out


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _norm(intents: list[list[Any]]) -> list[tuple[Any, ...]]:
    """Intents with their numbers as Decimals (so "3000.0" equals "3000.00")."""
    out: list[tuple[Any, ...]] = []
    for row in intents:
        items: list[Any] = []
        for value in row:
            if isinstance(value, str):
                try:
                    items.append(Decimal(value))
                    continue
                except InvalidOperation:
                    pass
            items.append(value)
        out.append(tuple(items))
    return out


# --- text ------------------------------------------------------------------------------------


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _span(first: int | None, last: int | None) -> str:
    if first is None or last is None:
        return "nothing recorded"
    return f"{_when(first)} to {_when(last)}"


def _entry_text(e: Entry) -> str:
    kind = e[0]
    if kind == "start":
        return f"start at mid {e[2]} (anchor {e[3]}, centre {e[4]})"
    if kind == "book":
        return "book changed (after a fill)"
    if kind == "traded":
        return f"order report: {e[2]} traded at level {e[3]}"
    if kind == "fill":
        return f"fill: {e[2]} {e[3]} @ {e[6]} (level {e[4]}, order {e[5]})"
    if kind == "pos":
        return f"exchange position {e[2]}"
    if kind == "own":
        return f"own position {e[2]}"
    if kind == "cmd":
        return f"operator command: {e[2]} (#{e[3]})"
    return " ".join(str(x) for x in [kind, *e[2:]])


def _state_text(state: dict[str, Any]) -> str:
    if "anchor" not in state:
        return f"not started; position {state['position']}"
    return (
        f"anchor {state['anchor']}, centre {state['centre']} ({state['centre_price']}), "
        f"position {state['position']}, book {'fresh' if state['book_fresh'] else 'stale'}"
    )


def _working_text(w: list[Any]) -> str:
    return f"{w[2]} L{w[1]} {w[4]} @ {w[3]} (order {w[0]}, {w[5]})"


def _intents_text(intents: list[list[Any]]) -> str:
    if not intents:
        return "nothing"
    parts = []
    for i in intents:
        if i[0] == "P":
            parts.append(f"place {i[2]} L{i[1]} {i[4]} @ {i[3]}")
        elif i[0] == "C":
            parts.append(f"cancel {i[1]}")
        elif i[0] == "H":
            parts.append(f"halt ({i[1]}, flatten {i[2]})")
        else:
            parts.append(f"market {i[1]} {i[2]} worst {i[3]}")
    return "; ".join(parts)


__all__ = ["Difference", "ReplayError", "ReplayReport", "configured", "parse_overrides", "replay"]
