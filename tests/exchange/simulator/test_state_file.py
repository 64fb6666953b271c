"""The paper venue survives restarts: stopped mid-trading and started from its state file it is
the same venue (balances, positions, orders, triggers, scheduled cancel-all, nonces, id
counters); a lost file starts fresh with ids that never collide with earlier ones.

Driven through the unmodified SDK against a real server, as the bots use it."""

from __future__ import annotations

import asyncio
import json
import urllib.error
from decimal import Decimal
from pathlib import Path
from typing import Any

import lighter
import pytest
from lighter import SignerClient

from exchange.simulator import snapshot
from exchange.simulator.clock import SimClock
from exchange.simulator.config import SimConfig
from exchange.simulator.server import SimServer
from exchange.simulator.snapshot import SnapshotError
from tests.plugins.simulator import (
    TEST_CONFIG,
    RunningSimulator,
    SimAccount,
    api_client,
    auth_token,
    run_simulator,
    signer_client,
)

ETH = 0
LIMIT = SignerClient.ORDER_TYPE_LIMIT
GTT = SignerClient.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME
SCHEDULED = SignerClient.CANCEL_ALL_TIF_SCHEDULED
TEN_MINUTES_MS = 600_000
# Time moves on while the venue is down: the saved time and the next periodic slots differ.
MOVES_WITH_TIME = ("now_ms", "schedule")


def history(state_file: Path, kind: str) -> list[dict[str, Any]]:
    """Rows of one history (trades, txs, ...) as saved: the journal's committed part, then the
    state file's own."""
    saved = json.loads(state_file.read_text())
    ref = saved["journal"]
    lines = (state_file.parent / ref["file"]).read_bytes()[: ref["bytes"]].splitlines()
    blocks = [e for e in map(json.loads, lines) if e["kind"] == kind]
    own = saved["engine"][kind]
    blocks += [own] if "rows" in own else list(own.values())
    return [dict(zip(b["fields"], row, strict=True)) for b in blocks for row in b["rows"]]


def venue(sim: RunningSimulator) -> dict[str, Any]:
    """The venue's saved form, minus what only says what time it is."""
    body = sim.call(lambda: snapshot.dump(sim.engine, clean=True))["engine"]
    return {k: v for k, v in body.items() if k not in MOVES_WITH_TIME}


async def best(api: Any) -> tuple[int, int]:
    book = await lighter.OrderApi(api).order_book_orders(market_id=ETH, limit=5)
    return int(book.asks[0].price.replace(".", "")), int(book.bids[0].price.replace(".", ""))


async def client_view(sim: RunningSimulator, account: Any) -> dict[str, Any]:
    """What a client reads back: account (collateral, positions, cancel-all time), active
    orders incl. triggers, and the next nonce of its key."""
    client = signer_client(sim, account)
    api = api_client(sim)
    try:
        reply = await lighter.AccountApi(api).account(by="index", value=str(account.index))
        row = reply.accounts[0]
        orders = await lighter.OrderApi(api).account_active_orders(
            authorization=auth_token(client, account), account_index=account.index, market_id=ETH
        )
        nonce = await lighter.TransactionApi(api).next_nonce(
            account_index=account.index, api_key_index=account.api_key_index
        )
        return {
            "collateral": row.collateral,
            "cancel_all_time": row.cancel_all_time,
            "positions": [
                (p.market_id, p.sign, p.position, p.avg_entry_price) for p in row.positions
            ],
            "orders": sorted(
                (o.order_index, o.client_order_index, o.type, o.status, o.trigger_status, o.price)
                for o in orders.orders
            ),
            "nonce": nonce.nonce,
        }
    finally:
        await client.close()
        await api.close()


async def trade_mid_session(sim: RunningSimulator, account: Any, coi: int = 1) -> None:
    """A resting bid, a filled market buy (a position), a stop-loss and a scheduled cancel-all."""
    client = signer_client(sim, account)
    api = api_client(sim)
    try:
        ask, bid = await best(api)
        _, _, err = await client.create_order(ETH, coi, 1000, bid - 500, False, LIMIT, GTT)
        assert err is None
        _, _, err = await client.create_market_order(ETH, coi + 1, 2000, ask + 2000, False)
        assert err is None
        _, _, err = await client.create_sl_order(
            ETH, coi + 2, 2000, bid - 3000, bid - 3500, True, True
        )
        assert err is None
        now_ms = sim.call(lambda: sim.server.clock.now_ms())
        _, _, err = await client.cancel_all_orders(SCHEDULED, now_ms + 3 * TEN_MINUTES_MS)
        assert err is None
    finally:
        await client.close()
        await api.close()


def max_ids(sim: RunningSimulator) -> tuple[int, int, int]:
    """(highest order index, trade id, tx sequence) the venue has handed out."""

    def read() -> tuple[int, int, int]:
        engine = sim.engine
        state = engine.state
        return (
            max(state.all_orders | state.live_orders),
            max((t.trade_id for t in state.history.trades), default=0),
            max((r.sequence_index for r in engine._txs.values()), default=0),
        )

    return sim.call(read)


async def test_a_restarted_simulator_is_the_venue_that_stopped(tmp_path: Path) -> None:
    state_file = tmp_path / "sim-state.json"
    first = run_simulator(state_file=state_file)
    sim = next(first)
    account = sim.create_account()
    await trade_mid_session(sim, account)
    before, view_before, ids_before = venue(sim), await client_view(sim, account), max_ids(sim)
    assert view_before["positions"][0][2] == "0.2000"
    assert {o[3] for o in view_before["orders"]} == {"open", "pending"}
    assert view_before["cancel_all_time"] > 0
    first.close()  # stops the server: the final save

    second = run_simulator(state_file=state_file)
    restarted = next(second)
    try:
        assert venue(restarted) == before
        assert await client_view(restarted, account) == view_before
        # The client keeps trading: its nonce goes on, new ids are above every earlier one.
        client = signer_client(restarted, account)
        api = api_client(restarted)
        ask, _ = await best(api)
        _, _, err = await client.create_market_order(ETH, 4, 1000, ask + 2000, False)
        await client.close()
        await api.close()
        assert err is None
        order_index, trade_id, sequence = max_ids(restarted)
        assert order_index > ids_before[0]
        assert trade_id > ids_before[1]
        assert sequence > ids_before[2]
    finally:
        second.close()


async def test_a_lost_state_file_starts_fresh_with_ids_that_never_collide(tmp_path: Path) -> None:
    state_file = tmp_path / "sim-state.json"
    first = run_simulator(state_file=state_file)
    sim = next(first)
    await trade_mid_session(sim, sim.create_account())
    ids_before = max_ids(sim)
    first.close()
    state_file.unlink()

    second = run_simulator(state_file=state_file)
    fresh = next(second)
    try:
        assert fresh.call(lambda: len(fresh.engine.state.history.trades)) == 0
        lowest_order = fresh.call(lambda: min(fresh.engine.state.live_orders))
        assert lowest_order > ids_before[0]  # not even the liquidity agent's ladder repeats
        await trade_mid_session(fresh, fresh.create_account())
        trades = fresh.call(lambda: [t.trade_id for t in fresh.engine.state.history.trades])
        assert trades and min(trades) > ids_before[1]
        sequences = fresh.call(lambda: [r.sequence_index for r in fresh.engine._txs.values()])
        assert min(sequences) > ids_before[2]
    finally:
        second.close()


async def test_stopping_executes_the_txs_already_accepted_before_saving(tmp_path: Path) -> None:
    state_file = tmp_path / "sim-state.json"
    config = {**TEST_CONFIG, "latency_ms": 300}
    first = run_simulator(config, state_file=state_file)
    sim = next(first)
    account = sim.create_account()
    client = signer_client(sim, account)
    api = api_client(sim)
    _, bid = await best(api)
    _, reply, err = await client.create_order(ETH, 7, 1000, bid - 700, False, LIMIT, GTT)
    await client.close()
    await api.close()
    assert err is None and reply.code == 200
    assert sim.call(lambda: sim.engine.pending_tx_count()) == 1  # the manual clock stands still
    first.close()

    assert json.loads(state_file.read_text())["clean"] is True
    assert [tx["status"] for tx in history(state_file, "txs")] == [2]
    second = run_simulator(config, state_file=state_file)
    restarted = next(second)
    try:
        view = await client_view(restarted, account)
        assert [o[1:4] for o in view["orders"]] == [(7, "limit", "open")]
    finally:
        second.close()


async def test_a_crash_restores_the_last_periodic_save_with_ids_past_the_clock(
    tmp_path: Path,
) -> None:
    state_file = tmp_path / "sim-state.json"
    first = run_simulator(state_file=state_file, save_interval_s=0.05)
    sim = next(first)
    account = sim.create_account()
    await trade_mid_session(sim, account)
    # The market buy executes with the venue's next block: on a loaded machine a periodic save
    # could come first. Wait for the position, then until the keeper has saved everything.
    keeper = sim.server.keeper
    for _ in range(400):
        # The position first: a keeper with nothing left to save after it has saved it.
        held = bool((await client_view(sim, account))["positions"])
        if held and sim.call(lambda: not keeper._dirty and keeper._writing is None):
            break
        await asyncio.sleep(0.05)
    crash_file = tmp_path / "at-the-crash.json"
    crash_file.write_bytes(state_file.read_bytes())
    # Trading goes on after that save: the crash loses it, ids included.
    await trade_mid_session(sim, account, coi=21)
    ids_before = max_ids(sim)
    first.close()
    assert json.loads(crash_file.read_text())["clean"] is False

    second = run_simulator(state_file=crash_file)
    restarted = next(second)
    try:
        view = await client_view(restarted, account)
        assert view["positions"][0][2] == "0.2000"
        await trade_mid_session(restarted, account, coi=11)
        order_index, _, sequence = max_ids(restarted)
        # Ids issued after the last periodic save are lost with it, so new ones jump past the
        # wall clock instead of continuing from the file's counters.
        new_trades = restarted.call(
            lambda: [t.trade_id for t in restarted.engine.state.history.trades]
        )
        assert max(new_trades) > ids_before[1] and order_index > ids_before[0]
        assert sequence > ids_before[2]
    finally:
        second.close()


def test_fresh_ignores_the_saved_venue_and_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    state_file = tmp_path / "sim-state.json"
    state_file.write_text("{not json")
    config = SimConfig.from_dict(TEST_CONFIG)

    with pytest.raises(SnapshotError, match="not valid JSON"):
        SimServer(config, clock=SimClock(), state_file=state_file)
    server = SimServer(config, clock=SimClock(), state_file=state_file, fresh=True)

    assert server.engine.state.history.trades == []
    assert state_file.read_text() == "{not json"  # kept until the fresh venue saves itself


async def test_reset_starts_the_venue_over_from_its_config_and_needs_confirmation(
    tmp_path: Path,
) -> None:
    from lighter.signer_client import create_api_key

    private_key, public_key, err = create_api_key()
    assert err is None
    config = {
        **TEST_CONFIG,
        "accounts": [
            {"index": 100, "l1_address": "0x" + "00" * 19 + "64", "collateral": "1000",
             "api_keys": {"3": public_key}},
        ],
    }  # fmt: skip
    state_file = tmp_path / "sim-state.json"
    gen = run_simulator(config, state_file=state_file)
    sim = next(gen)
    try:
        account = SimAccount(100, "0x" + "00" * 19 + "64", 3, private_key)
        await trade_mid_session(sim, account)
        ids_before = max_ids(sim)
        sim.run(lambda: sim.server.keeper.save(sim.engine))
        assert history(state_file, "trades")
        old_journal = state_file.parent / json.loads(state_file.read_text())["journal"]["file"]
        with pytest.raises(urllib.error.HTTPError) as refused:
            sim.sim("POST", "/sim/reset", {})
        assert refused.value.code == 400
        assert "confirm" in json.loads(refused.value.read())["error"]

        reply = sim.sim("POST", "/sim/reset", {"confirm": "reset"})

        assert reply == {"reset": True, "accounts": 1}
        assert history(state_file, "trades") == []
        assert not old_journal.exists()
        view = await client_view(sim, account)
        assert view["orders"] == [] and view["positions"] == []
        assert Decimal(view["collateral"]) == Decimal(1000)
        assert view["nonce"] == 0
        await trade_mid_session(sim, account)
        order_index, trade_id, sequence = max_ids(sim)
        assert order_index > ids_before[0] and trade_id > ids_before[1]
        assert sequence > ids_before[2]
    finally:
        gen.close()


def test_the_save_loop_keeps_the_file_current_while_running(tmp_path: Path) -> None:
    state_file = tmp_path / "sim-state.json"
    gen = run_simulator(state_file=state_file, save_interval_s=0.05)
    sim = next(gen)
    try:
        account = sim.create_account()
        sim.run(lambda: sim.server.keeper.next_save())
        saved = json.loads(state_file.read_text())
        assert account.index in [a["index"] for a in saved["engine"]["accounts"]]
        assert saved["clean"] is False
    finally:
        gen.close()


def test_a_restart_applies_the_configs_tier_to_a_saved_account(tmp_path: Path) -> None:
    account = {"index": 100, "l1_address": "0x" + "00" * 19 + "64", "collateral": "1000",
               "api_keys": {"3": "00" * 40}}  # fmt: skip
    state_file = tmp_path / "sim-state.json"
    standard = SimConfig.from_dict({**TEST_CONFIG, "accounts": [{**account, "tier": "standard"}]})
    first = SimServer(standard, clock=SimClock(), state_file=state_file)
    assert first.keeper is not None
    asyncio.run(first.keeper.save(first.engine))
    premium = SimConfig.from_dict({**TEST_CONFIG, "accounts": [{**account, "tier": "premium"}]})

    second = SimServer(premium, clock=SimClock(), state_file=state_file)

    assert second.engine.state.accounts[100].tier == "premium"
