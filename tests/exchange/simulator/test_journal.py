"""The history journal: each save appends only what became final, a crash between the journal
and the state file duplicates nothing, and the venue restores from the pair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exchange.simulator import journal, snapshot
from exchange.simulator.clock import SimClock
from exchange.simulator.engine import Engine
from exchange.simulator.journal import Cursor, JournalFile
from exchange.simulator.records import SnapshotError
from exchange.simulator.store import StateKeeper
from exchange.simulator.workload import Trader, quiet_config

NOW = 1_790_000_000_000
ETH = 0


def trade_once(engine: Engine, maker: Trader, taker: Trader, coi: int) -> None:
    mark = engine.mark_price(ETH)
    maker.run(maker.create_order(ETH, coi, 100, mark, is_ask=True))
    taker.run(taker.create_order(ETH, coi, 100, mark, is_ask=False, tif=0))


def full(engine: Engine) -> str:
    return snapshot.canonical(snapshot.dump(engine, clean=True))


def test_history_split_between_journal_and_state_restores_the_same_venue() -> None:
    config = quiet_config(latency_ms=200)
    engine = Engine(config, now_ms=NOW)
    maker, taker = Trader.open(engine), Trader.open(engine)
    for coi in (1, 2):
        trade_once(engine, maker, taker, coi)
        engine.advance(engine.now_ms + 200)
    first, cursor = journal.take(engine, Cursor())
    trade_once(engine, maker, taker, 3)
    engine.advance(engine.now_ms + 200)
    maker.send(maker.create_order(ETH, 9, 100, engine.mark_price(ETH) - 500, is_ask=False))
    second, cursor = journal.take(engine, cursor)  # the pending order's tx stays out
    hot = json.loads(json.dumps(snapshot.dump(engine, clean=True, journaled=cursor)))
    entries = json.loads(json.dumps(first + second))

    restored = snapshot.load(config, hot, now_ms=engine.now_ms, journal=entries)

    assert [len(hot["engine"][k]["rows"]) for k in ("trades", "txs")] == [0, 1]
    assert full(restored) == full(engine)
    assert journal.cursor_of(entries) == cursor


def test_a_journal_counts_only_its_committed_bytes_and_appends_over_the_rest(
    tmp_path: Path,
) -> None:
    file = JournalFile(tmp_path / "history.jsonl")
    one = {"kind": "trades", "key": None, "fields": ["trade_id"], "rows": [[1]]}
    two = {"kind": "trades", "key": None, "fields": ["trade_id"], "rows": [[2]]}
    committed = file.append([one], committed=0)
    file.append([two], committed=committed)  # a crash before the state file committed this

    assert file.read(committed) == [one]
    assert file.append([two], committed=committed) == 2 * committed  # cut, not duplicated
    assert file.read(2 * committed) == [one, two]
    with pytest.raises(SnapshotError, match="shorter than committed"):
        file.read(10 * committed)


async def test_each_save_appends_only_the_new_history(tmp_path: Path) -> None:
    state_file = tmp_path / "sim-state.json"
    keeper = StateKeeper(state_file)
    clock = SimClock(manual=True)
    engine = keeper.open_engine(quiet_config(), clock)
    maker, taker = Trader.open(engine), Trader.open(engine)
    trade_once(engine, maker, taker, 1)
    await keeper.save(engine)
    size = keeper.journal.path.stat().st_size
    trade_once(engine, maker, taker, 2)

    await keeper.save(engine)

    lines = keeper.journal.path.read_bytes().splitlines()
    trades = [row for e in map(json.loads, lines) if e["kind"] == "trades" for row in e["rows"]]
    assert len(trades) == 2  # one per save: the first trade was not written again
    assert keeper.journal.path.stat().st_size > size
    assert json.loads(state_file.read_text())["engine"]["trades"]["rows"] == []
    await keeper.close(engine, clock)  # clean: the counters are taken as saved
    again = StateKeeper(state_file).open_engine(quiet_config(), SimClock(manual=True))
    assert full(again) == full(engine)


async def test_starting_fresh_drops_the_old_journal_once_the_new_state_is_saved(
    tmp_path: Path,
) -> None:
    state_file = tmp_path / "sim-state.json"
    keeper = StateKeeper(state_file)
    engine = keeper.open_engine(quiet_config(), SimClock(manual=True))
    maker, taker = Trader.open(engine), Trader.open(engine)
    trade_once(engine, maker, taker, 1)
    await keeper.save(engine)
    old = keeper.journal.path
    assert old.exists()

    fresh = StateKeeper(state_file, fresh=True)
    engine = fresh.open_engine(quiet_config(), SimClock(manual=True))
    assert old.exists()  # still named by the state file until the fresh venue is saved
    await fresh.save(engine)

    assert not old.exists()
    assert json.loads(state_file.read_text())["journal"]["file"] == fresh.journal.path.name
