"""The venue round-trips through its saved form: a restored engine is the same venue and goes on
exactly as the original would (same fills, same prices), ids never repeat."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from exchange.simulator import snapshot
from exchange.simulator.config import AccountConfig, LiquidityConfig, PricePathConfig
from exchange.simulator.constants import GROUP_OTOCO
from exchange.simulator.engine import HOUR_MS, Engine
from exchange.simulator.snapshot import SnapshotError
from exchange.simulator.workload import Trader, TxBuilder, quiet_config

NOW = 1_790_000_000_000
ETH, BTC = 0, 1
MINUTE = 60_000


def busy_config(**overrides):
    """Liquidity agent on, a GBM path on ETH, funding on: every kind of state moves."""
    settings = {
        "liquidity": LiquidityConfig(levels=3),
        "price_paths": {ETH: PricePathConfig(kind="gbm", volatility=Decimal("0.8"), step_ms=1000)},
        "funding_enabled": True,
        "seed": 11,
    }
    settings.update(overrides)
    return quiet_config(**settings)


def roundtrip(engine: Engine, config, *, clean: bool = True, now_ms: int | None = None) -> Engine:
    """Through JSON text, as the state file does."""
    data = json.loads(json.dumps(snapshot.dump(engine, clean=clean)))
    return snapshot.load(config, data, now_ms=engine.now_ms if now_ms is None else now_ms)


def trade_a_while(engine: Engine) -> tuple[Trader, Trader]:
    """Two accounts with resting orders, positions, a stop, an OTOCO group, a TWAP, a scheduled
    cancel-all, leverage, finished orders and an hour of funding."""
    alice, bob = Trader.open(engine), Trader.open(engine, "50000")
    mark = engine.mark_price(ETH)
    alice.run(alice.update_leverage(ETH, 1000))
    alice.run(alice.create_order(ETH, 1, 100, mark + 500, is_ask=False, tif=0))  # taker buy
    alice.run(alice.create_order(ETH, 2, 100, mark - 2000, is_ask=False))  # resting bid
    alice.run(alice.create_order(ETH, 3, 100, mark + 3000, is_ask=True))  # resting ask
    bob.run(bob.create_order(ETH, 3, 100, mark + 3000, is_ask=True))  # behind alice's in time
    alice.run(
        alice.create_order(
            ETH, 4, 100, mark - 4000, is_ask=True, order_type=2, tif=0, trigger_price=mark - 3500
        )
    )  # stop-loss waiting on the mark
    bob.run(bob.create_order(BTC, 5, 100, engine.mark_price(BTC) + 10, is_ask=True, tif=0))
    parent = TxBuilder.order_fields(ETH, 6, 100, mark - 3000, is_ask=False, now_ms=engine.now_ms)
    take = TxBuilder.order_fields(
        ETH, 0, 0, mark, is_ask=True, order_type=4, tif=0, trigger_price=mark + 1000,
        reduce_only=True, now_ms=engine.now_ms,
    )  # fmt: skip
    stop = TxBuilder.order_fields(
        ETH, 0, 0, mark - 6000, is_ask=True, order_type=2, tif=0, trigger_price=mark - 5000,
        reduce_only=True, now_ms=engine.now_ms,
    )  # fmt: skip
    bob.run(bob.grouped(GROUP_OTOCO, [parent, take, stop]))
    engine.advance(engine.now_ms + HOUR_MS + 5 * MINUTE)  # GBM steps, requotes, funding
    mark = engine.mark_price(ETH)
    bob.run(
        bob.create_order(
            ETH, 7, 1000, mark + 1000, is_ask=False, order_type=6,
            order_expiry=engine.now_ms + 10 * MINUTE,
        )
    )  # fmt: skip
    bob.run(bob.cancel_order(ETH, 2))  # nothing to cancel: a failed tx on record
    alice.run(alice.cancel_all(tif=1, time_ms=engine.now_ms + 20 * MINUTE))
    engine.advance(engine.now_ms + MINUTE)  # a TWAP slice more
    return alice, bob


def test_a_busy_venue_restores_to_the_same_saved_form():
    config = busy_config()
    engine = Engine(config, now_ms=NOW)
    trade_a_while(engine)
    saved = snapshot.dump(engine, clean=True)
    assert saved["engine"]["trades"]["rows"], "the scenario traded"
    assert saved["engine"]["fundings"]["0"]["rows"], "the scenario paid funding"

    restored = roundtrip(engine, config)

    assert snapshot.canonical(snapshot.dump(restored, clean=True)) == snapshot.canonical(saved)


def test_a_restored_venue_goes_on_exactly_as_the_original():
    config = busy_config()
    original = Engine(config, now_ms=NOW)
    trade_a_while(original)
    restored = roundtrip(original, config)
    for engine in (original, restored):
        # The same client keeps trading on both: new orders, fills against the liquidity agent,
        # GBM steps, TWAP slices, the scheduled cancel-all and another funding hour.
        trader = TxBuilder(engine, 1)
        mark = engine.mark_price(ETH)
        trader.send(trader.create_order(ETH, 20, 200, mark + 800, is_ask=False, tif=0))
        trader.send(trader.create_order(ETH, 21, 100, mark - 900, is_ask=False))
        engine.advance(engine.now_ms + HOUR_MS)

    assert snapshot.canonical(snapshot.dump(restored, clean=True)) == snapshot.canonical(
        snapshot.dump(original, clean=True)
    )
    assert restored.state.history.trades[-1].trade_id > 0


def test_money_is_saved_as_decimal_strings():
    config = quiet_config()
    engine = Engine(config, now_ms=NOW)
    Trader.open(engine, "12345.678901")
    saved = json.loads(json.dumps(snapshot.dump(engine, clean=True)))

    account = saved["engine"]["accounts"][0]
    assert account["collateral"] == "12345.678901"
    assert snapshot.load(config, saved, now_ms=NOW).account(account["index"]).collateral == Decimal(
        "12345.678901"
    )


def test_a_crash_file_fails_the_txs_that_never_executed_and_gives_their_nonces_back():
    config = quiet_config(latency_ms=300)
    engine = Engine(config, now_ms=NOW)
    trader = Trader.open(engine)
    mark = engine.mark_price(ETH)
    first = trader.send(trader.create_order(ETH, 1, 100, mark - 1000, is_ask=False))
    second = trader.send(trader.create_order(ETH, 2, 100, mark - 1100, is_ask=False))
    assert engine.next_nonce(trader.account_index, 3) == 2

    restored = roundtrip(engine, config, clean=False)

    for record in (first, second):
        lost = restored.tx(record.hash)
        assert lost is not None and lost.status == 0
        assert "lost" in json.loads(lost.event_info)["ae"]
    assert restored.next_nonce(trader.account_index, 3) == 0
    restored.advance(NOW + 1000)
    assert restored.active_orders(trader.account_index) == []


def test_seeded_ids_start_above_the_floor_and_never_go_down():
    engine = Engine(quiet_config(), now_ms=NOW)
    alice, bob = Trader.open(engine), Trader.open(engine)
    mark = engine.mark_price(ETH)
    floor = NOW * 1000
    snapshot.seed_ids(engine, floor)
    alice.run(alice.create_order(ETH, 1, 100, mark, is_ask=True))
    record = bob.run(bob.create_order(ETH, 2, 100, mark, is_ask=False, tif=0))

    trade = engine.state.history.trades[-1]
    assert trade.trade_id == floor + 1
    assert alice.order(1).order_index > floor
    assert record.sequence_index > floor
    snapshot.seed_ids(engine, floor - 5)
    assert engine.state.next_trade_id() == floor + 2


def test_config_accounts_are_recreated_and_rekeyed_without_losing_their_money():
    config = quiet_config(
        accounts=[AccountConfig(100, "0x" + "00" * 19 + "64", Decimal(1000), {3: "aa" * 40})]
    )
    engine = Engine(config, now_ms=NOW)
    engine.account(100).collateral = Decimal("777.5")
    data = json.loads(json.dumps(snapshot.dump(engine, clean=True)))
    rekeyed = quiet_config(
        accounts=[
            AccountConfig(100, "0x" + "00" * 19 + "64", Decimal(1000), {3: "bb" * 40}),
            AccountConfig(101, "0x" + "00" * 19 + "65", Decimal(5), {}),
        ]
    )

    restored = snapshot.load(rekeyed, data, now_ms=NOW)

    assert restored.account(100).collateral == Decimal("777.5")
    assert restored.account(100).api_keys[3].public_key_hex == "bb" * 40
    assert restored.account(101).collateral == Decimal(5)


def test_time_the_venue_was_down_produces_no_price_steps_or_back_pay():
    config = busy_config()
    engine = Engine(config, now_ms=NOW)
    trade_a_while(engine)
    down_ms = 5 * HOUR_MS
    restored = roundtrip(engine, config, now_ms=engine.now_ms + down_ms)
    fundings = len(restored.state.history.fundings[ETH])

    events = restored.advance(engine.now_ms + down_ms)

    assert len(restored.state.history.fundings[ETH]) == fundings
    assert not [e for e in events if type(e).__name__ == "PriceChanged"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format=99), "unknown state format"),
        (lambda d: d["engine"].update(markets=[0, 1, 2, 42]), "markets [42]"),
        (lambda d: d["engine"].pop("orders"), "malformed state"),
        (lambda d: d["engine"]["accounts"][0].update(collateral="lots"), "malformed state"),
    ],
)
def test_a_state_it_cannot_restore_is_refused_with_the_reason(mutate, message):
    config = quiet_config()
    engine = Engine(config, now_ms=NOW)
    Trader.open(engine)
    data = json.loads(json.dumps(snapshot.dump(engine, clean=True)))
    mutate(data)

    with pytest.raises(SnapshotError, match=message.replace("[", r"\[").replace("]", r"\]")):
        snapshot.load(config, data, now_ms=NOW)
