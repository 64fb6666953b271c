"""The venue's state files: written atomically, every few seconds when something changed and
once more on shutdown; read back on start, so the paper venue survives restarts like an exchange.

Ids never repeat, even when the file is lost or stale (a crash loses what happened after the
last periodic save, including ids already handed out): a fresh start, or a restore from a file
that was not written at a clean shutdown, raises every id counter to the wall clock's
milliseconds times `IDS_PER_MS`, above anything issued before unless the venue ever issued more
than `IDS_PER_MS` ids per millisecond on average (it handles thousands per second).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exchange.simulator import snapshot
from exchange.simulator.clock import SimClock
from exchange.simulator.config import SimConfig
from exchange.simulator.engine import Engine
from exchange.simulator.journal import Cursor, JournalFile, cursor_of, take
from exchange.simulator.snapshot import SnapshotError

logger = logging.getLogger(__name__)

SAVE_INTERVAL_S = 2.0
IDS_PER_MS = 1000


def wall_ms() -> int:
    """Milliseconds since the epoch by the machine's clock (not the simulated one)."""
    return time.time_ns() // 1_000_000


def id_floor(now_wall_ms: int) -> int:
    """The lowest id a counter may hand out when starting at `now_wall_ms`."""
    return now_wall_ms * IDS_PER_MS


class StateFile:
    """One JSON file, replaced atomically (temp file in the same folder, fsync, os.replace)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Any] | None:
        """The saved venue, None when there is no file; SnapshotError when it is unreadable."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SnapshotError(f"cannot read {self.path}: {exc}") from exc
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise SnapshotError(f"{self.path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise SnapshotError(f"{self.path} does not hold a saved venue")
        return data

    def write(self, data: dict[str, Any]) -> None:
        """Replace the file with `data`; a crash mid-write leaves the previous file intact."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with temp.open("w", encoding="utf-8") as handle:
            json.dump(data, handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


class StateKeeper:
    """Opens the venue from its files and keeps them current while the server runs.

    Two files side by side: the state file (replaced whole, small: accounts, live orders,
    counters...) and the history journal it names (appended to, see `journal.py`). Starting
    over begins a new journal; the old one is deleted once the state file no longer names it.
    """

    def __init__(
        self, path: Path, *, fresh: bool = False, interval_s: float = SAVE_INTERVAL_S
    ) -> None:
        self.file = StateFile(path)
        self.fresh = fresh
        self.interval_s = interval_s
        self.journal = self._new_journal()
        self.committed = 0
        self.cursor = Cursor()
        self._stale: list[Path] = []
        self._dirty = False
        self._writing: asyncio.Future[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []

    def _new_journal(self) -> JournalFile:
        path, generation = self.file.path, wall_ms()
        while (candidate := path.with_name(f"{path.stem}.history-{generation}.jsonl")).exists():
            generation += 1  # never reuse a journal an older state file may still name
        return JournalFile(candidate)

    def _journals(self) -> list[Path]:
        path = self.file.path
        return sorted(path.parent.glob(f"{path.stem}.history-*.jsonl"))

    def open_engine(self, config: SimConfig, clock: SimClock) -> Engine:
        """The saved venue (the clock moved up to its time if behind), or a fresh one with
        clock-seeded ids; raises SnapshotError for files it cannot restore."""
        data = None if self.fresh else self.file.read()
        if data is None:
            floor = id_floor(wall_ms())
            engine = snapshot.fresh_engine(config, now_ms=clock.now_ms(), id_floor=floor)
            logger.info("simulator starts a fresh venue (state file %s)", self.file.path)
        else:
            entries = self._open_journal(data)
            clock.catch_up(snapshot.saved_time(data))
            engine = snapshot.load(config, data, now_ms=clock.now_ms(), journal=entries)
            self.cursor = cursor_of(entries)
            if not data.get("clean"):
                snapshot.seed_ids(engine, id_floor(wall_ms()))
            logger.info(
                "simulator restored %d accounts and %d live orders from %s%s",
                len(engine.state.accounts),
                len(engine.state.live_orders),
                self.file.path,
                "" if data.get("clean") else " (not a clean shutdown: ids moved past the clock)",
            )
        self._stale = [p for p in self._journals() if p != self.journal.path]
        self._dirty = True
        return engine

    def _open_journal(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        ref = data.get("journal")
        if not isinstance(ref, dict) or not isinstance(ref.get("file"), str):
            raise SnapshotError(f"{self.file.path} names no history journal")
        name, committed = Path(ref["file"]).name, ref.get("bytes")
        if not isinstance(committed, int) or committed < 0:
            raise SnapshotError(f"{self.file.path} has no committed journal length")
        self.journal = JournalFile(self.file.path.with_name(name))
        self.committed = committed
        return self.journal.read(committed)

    async def start_over(self) -> None:
        """The venue was reset: its history starts a new journal (after any write in flight)."""
        await self._settle()
        self._stale.append(self.journal.path)
        self.journal = self._new_journal()
        self.committed = 0
        self.cursor = Cursor()
        self._dirty = True

    def changed(self) -> None:
        """Something in the venue changed: the next periodic save writes it."""
        self._dirty = True

    async def run(self, engine_now: Callable[[], Engine]) -> None:
        """Save every `interval_s` while changed; `engine_now()` gives the current engine."""
        while True:
            await asyncio.sleep(self.interval_s)
            if not self._dirty:
                continue
            # The one top-level handler of this loop: a failed save (disk full...) is logged with
            # its traceback and retried at the next interval; the venue keeps running.
            try:
                await self.save(engine_now())
            except Exception:
                self._dirty = True
                logger.exception("simulator state save to %s failed", self.file.path)

    async def save(self, engine: Engine) -> None:
        """Write the venue now: dumped on the loop thread (only what changed since the last
        save of the history), encoded and written on a worker thread."""
        await self._settle()
        entries, after = take(engine, self.cursor)
        data = snapshot.dump(engine, clean=False, journaled=after)
        self._dirty = False
        writing = asyncio.ensure_future(asyncio.to_thread(self._write, data, entries, after))
        self._writing = writing
        # Shielded: a cancelled save loop must not leave a half-done write racing the final one
        # (close() waits for it instead).
        try:
            await asyncio.shield(writing)
        finally:
            if writing.done():
                self._writing = None
        self._saved()

    async def close(self, engine: Engine, clock: SimClock) -> None:
        """The final, clean save at shutdown, once the server stopped accepting requests: the
        txs already accepted execute first (time runs on to their due time), as a sequencer
        finishes what it accepted, so the files have nothing in flight."""
        until = snapshot.pending_until(engine)
        if until is not None:
            engine.advance(clock.catch_up(until))
        await self._settle()
        entries, after = take(engine, self.cursor)
        self._write(snapshot.dump(engine, clean=True, journaled=after), entries, after)
        self._dirty = False
        self._saved()
        logger.info("simulator state saved to %s", self.file.path)

    def _write(self, data: dict[str, Any], entries: list[dict[str, Any]], after: Cursor) -> None:
        """Journal first, then the state file that commits it; only then does the cursor move
        (a failed save is retried whole, from the last committed point)."""
        committed = self.committed
        if entries or not self.journal.path.exists():  # the state file never names a lost file
            committed = self.journal.append(entries, committed=self.committed)
        data["journal"] = {"file": self.journal.path.name, "bytes": committed}
        self.file.write(data)
        self.committed, self.cursor = committed, after
        stale, self._stale = self._stale, []
        for path in stale:
            path.unlink(missing_ok=True)

    async def next_save(self) -> None:
        """Wait until the next save has been written (tools and tests that need the files)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    def _saved(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _settle(self) -> None:
        writing, self._writing = self._writing, None
        if writing is None:
            return
        try:
            await writing
        except OSError:
            logger.exception("simulator state save to %s failed", self.file.path)
