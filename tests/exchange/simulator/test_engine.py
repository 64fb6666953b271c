"""Engine: API-level rejections, nonces, batches, latency, lifecycle txs, tx records."""

import base64
import json

import pytest

from exchange.simulator.config import SimConfig
from exchange.simulator.engine import Engine
from exchange.simulator.types import OrderChanged, SimError, TxExecuted
from exchange.simulator.workload import Trader, TxBuilder, quiet_config

NOW = 1_790_000_000_000
ETH = 0
DAY = 86_400_000


@pytest.fixture
def engine() -> Engine:
    return Engine(quiet_config(), now_ms=NOW)


@pytest.fixture
def trader(engine: Engine) -> Trader:
    return Trader.open(engine)


def order_tx(trader: Trader, **changes):
    tx_type, info = trader.create_order(ETH, 1, 1000, 300000, is_ask=False)
    trader.nonce -= 1  # the tx may be rejected; keep the builder's nonce unconsumed
    for key, value in changes.items():
        if value is None:
            info.pop(key)
        else:
            info[key] = value
    return tx_type, info


# (name, tx_info changes, code)
REJECTIONS = [
    ("unknown account", {"AccountIndex": 999}, 21100),
    ("negative account", {"AccountIndex": -1}, 21102),
    ("unregistered api key", {"ApiKeyIndex": 9}, 21109),
    ("api key index out of range", {"ApiKeyIndex": 300}, 21110),
    ("nonce ahead", {"Nonce": 5}, 21104),
    ("expired tx", {"ExpiredAt": NOW - 1}, 21711),
    ("missing field", {"Price": None}, 21501),
    ("string field", {"Price": "300000"}, 21501),
    ("unknown market", {"MarketIndex": 99}, 21602),
    ("zero base amount", {"BaseAmount": 0}, 21701),
    ("zero price", {"Price": 0}, 21702),
    ("bad side", {"IsAsk": 2}, 21703),
    ("bad order type", {"Type": 9}, 21704),
    ("twap that is not gtt", {"Type": 6, "TimeInForce": 0, "OrderExpiry": 0}, 21705),
    ("bad time in force", {"TimeInForce": 5}, 21705),
    ("market order that is not ioc", {"Type": 1, "TimeInForce": 1}, 21705),
    ("client index too large", {"ClientOrderIndex": 1 << 48}, 21727),
    ("trigger on a limit order", {"TriggerPrice": 5}, 21729),
    ("stop loss without trigger", {"Type": 2, "TimeInForce": 0}, 21729),
    ("gtt without expiry", {"OrderExpiry": 0}, 21711),
    ("ioc with expiry", {"TimeInForce": 0}, 21711),
    ("expiry beyond 30 days", {"OrderExpiry": NOW + 31 * DAY}, 21711),
    # lighter-go MinOrderExpiryPeriod: an expiry is at least 5 minutes ahead.
    ("expiry under 5 minutes ahead", {"OrderExpiry": NOW + 299_999}, 21711),
    ("below min base", {"BaseAmount": 49}, 21706),
    ("below min quote", {"BaseAmount": 50, "Price": 10000}, 21706),
    ("limit far from mark", {"Price": 600000}, 21734),
    ("bad reduce only", {"ReduceOnly": 2}, 21740),
    ("bad self trade mode", {"L2TxAttributes": {"6": 7}}, 21743),
]


@pytest.mark.parametrize(("name", "changes", "code"), REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_create_order_rejections_do_not_consume_the_nonce(engine, trader, name, changes, code):
    with pytest.raises(SimError) as caught:
        engine.submit_tx(*order_tx(trader, **changes), now_ms=NOW)

    assert caught.value.code == code
    assert caught.value.http_status == 400
    assert engine.next_nonce(trader.account_index, 3) == 0


def test_error_messages_are_lighters_texts(engine, trader):
    with pytest.raises(SimError) as caught:
        engine.submit_tx(*order_tx(trader, Nonce=3), now_ms=NOW)
    assert caught.value.message == "invalid nonce"


def test_unsupported_tx_type_is_21505(engine, trader):
    with pytest.raises(SimError) as caught:
        engine.submit_tx(12, {"AccountIndex": trader.account_index}, now_ms=NOW)
    assert caught.value.code == 21505


def test_price_protection_off_allows_far_limit_prices(engine, trader):
    record = engine.submit_tx(*order_tx(trader, Price=400000), now_ms=NOW, price_protection=False)
    assert record.status == 1


def test_duplicate_live_client_index_is_21728(engine, trader):
    trader.run(trader.create_order(ETH, 5, 1000, 290000, is_ask=False))
    with pytest.raises(SimError) as caught:
        trader.send(trader.create_order(ETH, 5, 1000, 290000, is_ask=False))
    assert caught.value.code == 21728


def test_accepted_tx_consumes_the_nonce_and_is_pending_until_executed(engine, trader):
    record = trader.send(trader.create_order(ETH, 1, 1000, 290000, is_ask=False))

    assert record.status == 1
    assert len(record.hash) == 80
    assert engine.next_nonce(trader.account_index, 3) == 1
    engine.advance(NOW)
    assert engine.tx(record.hash).status == 2
    assert json.loads(engine.tx(record.hash).event_info)["ae"] == ""


def test_skip_nonce_accepts_a_gap_but_not_a_past_nonce(engine, trader):
    tx_type, info = order_tx(trader, Nonce=7, L2TxAttributes={"4": 1})
    engine.submit_tx(tx_type, info, now_ms=NOW)
    assert engine.next_nonce(trader.account_index, 3) == 8

    with pytest.raises(SimError) as caught:
        engine.submit_tx(*order_tx(trader, Nonce=6, L2TxAttributes={"4": 1}), now_ms=NOW)
    assert caught.value.code == 21104


def test_latency_delays_execution_by_tier():
    engine = Engine(quiet_config(latency_ms=None), now_ms=NOW)
    trader = Trader.open(engine)
    record = trader.send(trader.create_order(ETH, 1, 1000, 290000, is_ask=False))

    assert record.execute_at == NOW + 200  # standard maker latency
    engine.advance(NOW + 199)
    assert engine.tx(record.hash).status == 1
    engine.advance(NOW + 200)
    assert engine.tx(record.hash).status == 2


def test_premium_makers_execute_without_delay_and_takers_after_200ms():
    engine = Engine(quiet_config(latency_ms=None), now_ms=NOW)
    trader = Trader.open(engine, tier="premium")
    maker = trader.send(trader.create_order(ETH, 1, 1000, 290000, is_ask=False))
    taker = trader.send(trader.create_order(ETH, 2, 1000, 290000, is_ask=True, tif=0))
    assert maker.execute_at == NOW
    assert taker.execute_at == NOW + 200


@pytest.mark.parametrize("cancel", ["cancel", "cancel_all"])
def test_one_keys_txs_execute_in_nonce_order_whatever_their_latency(cancel):
    # lighter-api.md §5: one API key's txs are sequenced by nonce. A cancel (200 ms class) sent
    # right after a marketable order (300 ms class) must not overtake it and fail.
    engine = Engine(quiet_config(latency_ms=None), now_ms=NOW)
    maker, taker = Trader.open(engine), Trader.open(engine)
    maker.send(maker.create_order(ETH, 1, 1000, 300000, is_ask=True))
    engine.advance(NOW + 200)
    now = engine.now_ms

    order = taker.send(taker.create_order(ETH, 7, 2000, 300000, is_ask=False))
    if cancel == "cancel":
        undo = taker.send(taker.cancel_order(ETH, 7))
    else:
        undo = taker.send(taker.cancel_all())
    assert undo.execute_at == order.execute_at == now + 300
    engine.advance(now + 300)

    assert engine.tx(order.hash).status == 2
    assert engine.tx(undo.hash).status == 2, engine.tx(undo.hash).event_info
    placed = taker.order(7)
    assert (placed.status, placed.filled_base_amount) == ("canceled", 1000)
    assert engine.active_orders(taker.account_index) == []


def test_other_keys_are_not_held_back_by_a_slow_tx():
    engine = Engine(quiet_config(latency_ms=None), now_ms=NOW)
    trader = Trader.open(engine)
    engine.register_api_key(trader.account_index, 4, "cd" * 40)
    other = TxBuilder(engine, trader.account_index, api_key_index=4)
    slow = trader.send(trader.create_order(ETH, 1, 1000, 290000, is_ask=False, tif=0))
    fast = other.send(other.cancel_all())
    assert (slow.execute_at, fast.execute_at) == (NOW + 300, NOW + 200)


def test_batch_executes_all_txs_in_order(engine, trader):
    txs = [trader.create_order(ETH, i, 1000, 290000 + i, is_ask=False) for i in range(1, 51)]

    records = engine.submit_batch(txs, now_ms=NOW)
    engine.advance(NOW)

    assert [engine.tx(r.hash).status for r in records] == [2] * 50
    assert len(engine.active_orders(trader.account_index)) == 50


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda txs: txs * 26, 21514),
        (lambda txs: [txs[0], (14, {**txs[1][1], "ApiKeyIndex": 4})], 21121),
        (lambda txs: [txs[1], txs[0]], 21104),
        (lambda txs: [txs[0], (14, {**txs[1][1], "Nonce": 5})], 21105),
        (lambda txs: [], 21513),
    ],
    ids=["more than 50", "different key", "first nonce wrong", "not consecutive", "empty"],
)
def test_batch_rejections_are_all_or_nothing(engine, trader, mutate, code):
    engine.register_api_key(trader.account_index, 4, "cd" * 40)
    txs = [trader.create_order(ETH, i, 1000, 290000, is_ask=False) for i in (1, 2)]
    txs = [(t, dict(i)) for t, i in txs]
    batch = mutate(txs)

    with pytest.raises(SimError) as caught:
        engine.submit_batch(batch, now_ms=NOW)

    assert caught.value.code == code
    assert engine.next_nonce(trader.account_index, 3) == 0


def test_cancel_by_client_index_and_by_exchange_index(engine, trader):
    trader.run(trader.create_order(ETH, 1, 1000, 290000, is_ask=False))
    trader.run(trader.create_order(ETH, 2, 1000, 290000, is_ask=False))
    exchange_index = trader.order(2).order_index

    trader.run(trader.cancel_order(ETH, 1))
    trader.run(trader.cancel_order(ETH, exchange_index))

    assert trader.order(1).status == "canceled"
    assert trader.order(2).status == "canceled"
    assert engine.book_levels(ETH) == ([], [])


def test_cancel_of_unknown_order_fails_in_the_sequencer(engine, trader):
    record = trader.run(trader.cancel_order(ETH, 42))

    tx = engine.tx(record.hash)
    assert tx.status == 0
    assert json.loads(tx.event_info)["ae"] == "given order is not an active order"
    assert engine.next_nonce(trader.account_index, 3) == 1


def test_cancel_of_another_accounts_order_is_refused(engine, trader):
    other = Trader.open(engine)
    other.run(other.create_order(ETH, 1, 1000, 290000, is_ask=False))

    record = trader.run(trader.cancel_order(ETH, other.order(1).order_index))

    assert json.loads(engine.tx(record.hash).event_info)["ae"] == (
        "account is not owner of the order"
    )
    assert other.order(1).status == "open"


def test_gtt_order_expires(engine, trader):
    tx = trader.create_order(ETH, 1, 1000, 290000, is_ask=False, order_expiry=NOW + 300_000)
    trader.run(tx)

    engine.advance(NOW + 299_999)
    assert trader.order(1).status == "open"
    engine.advance(NOW + 300_000)
    assert trader.order(1).status == "canceled-expired"


def test_immediate_cancel_all_can_target_one_market(engine, trader):
    trader.run(trader.create_order(ETH, 1, 1000, 290000, is_ask=False))
    trader.run(trader.create_order(1, 2, 100, 990_000, is_ask=False))

    trader.run(trader.cancel_all(0, 0, market_id=ETH))

    assert trader.order(1).status == "canceled"
    assert trader.order(2).status == "open"


def test_scheduled_cancel_all_fires_at_its_time(engine, trader):
    trader.run(trader.create_order(ETH, 1, 1000, 290000, is_ask=False))
    trader.run(trader.cancel_all(1, NOW + 300_000))
    assert engine.account(trader.account_index).cancel_all_time == NOW + 300_000

    engine.advance(NOW + 299_999)
    assert trader.order(1).status == "open"
    engine.advance(NOW + 300_000)
    assert trader.order(1).status == "canceled"
    assert engine.account(trader.account_index).cancel_all_time == 0


def test_aborted_scheduled_cancel_all_does_not_fire(engine, trader):
    trader.run(trader.create_order(ETH, 1, 1000, 290000, is_ask=False))
    trader.run(trader.cancel_all(1, NOW + 300_000))
    trader.run(trader.cancel_all(2, 0))

    engine.advance(NOW + 400_000)

    assert trader.order(1).status == "open"


def test_rearmed_dead_mans_switch_only_fires_at_the_latest_time(engine, trader):
    trader.run(trader.create_order(ETH, 1, 1000, 290000, is_ask=False))
    trader.run(trader.cancel_all(1, NOW + 300_000))
    trader.run(trader.cancel_all(1, NOW + 600_000))

    engine.advance(NOW + 300_000)
    assert trader.order(1).status == "open"
    engine.advance(NOW + 600_000)
    assert trader.order(1).status == "canceled"


# lighter-api.md §3.5: a scheduled cancel-all is 5 minutes to 15 days ahead (21714 otherwise).
@pytest.mark.parametrize(("tif", "time_ms", "code"), [(1, NOW - 1, 21714), (0, 5, 21714),
                                                      (1, NOW + 299_999, 21714),
                                                      (1, NOW + 15 * DAY + 60_001, 21714),
                                                      (3, 0, 21713)])  # fmt: skip
def test_invalid_cancel_all_is_rejected(engine, trader, tif, time_ms, code):
    with pytest.raises(SimError) as caught:
        trader.send(trader.cancel_all(tif, time_ms))
    assert caught.value.code == code


def test_modify_size_down_keeps_priority(engine, trader):
    other = Trader.open(engine)
    trader.run(trader.create_order(ETH, 1, 1000, 290000, is_ask=False))
    other.run(other.create_order(ETH, 1, 1000, 290000, is_ask=False))

    trader.run(trader.modify_order(ETH, 1, 600, 290000))

    bids = engine.book_orders(ETH, 10)[1]
    assert [o.owner_account_index for o in bids] == [trader.account_index, other.account_index]
    assert bids[0].remaining_base_amount == 600
    assert bids[0].order_version == 1


def test_modify_price_loses_priority_and_can_trade(engine, trader):
    seller = Trader.open(engine)
    seller.run(seller.create_order(ETH, 1, 1000, 295000, is_ask=True))
    trader.run(trader.create_order(ETH, 1, 1000, 290000, is_ask=False))

    trader.run(trader.modify_order(ETH, 1, 1000, 295000))

    assert trader.order(1).status == "filled"
    assert trader.position(ETH) == 1000


def test_modify_with_stale_version_fails(engine, trader):
    trader.run(trader.create_order(ETH, 1, 1000, 290000, is_ask=False))
    trader.run(trader.modify_order(ETH, 1, 900, 290000, version=100))

    stale = trader.run(trader.modify_order(ETH, 1, 800, 290000, version=100))
    newer = trader.run(trader.modify_order(ETH, 1, 700, 290000, version=200))

    assert engine.tx(stale.hash).status == 0
    assert engine.tx(newer.hash).status == 2
    assert trader.order(1).remaining_base_amount == 700
    assert trader.order(1).order_version == 200


def test_change_pub_key_registers_the_key_as_hex(engine, trader):
    raw = bytes(range(40))
    builder = Trader(engine, trader.account_index, api_key_index=7)

    builder.run(builder.change_pub_key(base64.b64encode(raw).decode()))

    keys = engine.api_keys(trader.account_index, 7)
    assert [k.public_key_hex for k in keys] == [raw.hex()]
    assert engine.next_nonce(trader.account_index, 7) == 1


def test_withdraw_reduces_collateral(engine, trader):
    trader.run(trader.withdraw(5_000_000))
    assert engine.collateral(trader.account_index) == 99995


def test_events_report_order_then_tx_in_execution_order(engine, trader):
    trader.send(trader.create_order(ETH, 1, 1000, 290000, is_ask=False))
    events = engine.advance(NOW)

    kinds = [type(e) for e in events]
    assert kinds == [OrderChanged, TxExecuted]
    assert events[0].order.status == "open"


def test_order_events_are_snapshots(engine, trader):
    trader.send(trader.create_order(ETH, 1, 1000, 290000, is_ask=False))
    first = engine.advance(NOW)[0]
    trader.run(trader.cancel_order(ETH, 1))

    assert first.order.status == "open"
    assert trader.order(1).status == "canceled"


def test_same_seed_and_inputs_give_the_same_fills():
    def run() -> list:
        # Moving GBM prices, the liquidity agent and hourly funding all draw on the seed.
        config = SimConfig.from_dict(
            {
                "seed": 7,
                "latency_ms": 0,
                "price_paths": {"0": {"kind": "gbm", "step_ms": 500}},
                "verify_signatures": False,
            }
        )
        engine = Engine(config, now_ms=NOW)
        a = Trader.open(engine)
        for i in range(20):
            engine.advance(NOW + i * 1000)
            a.run(a.create_order(ETH, 0, 1000, 299000 + (i % 3) * 1000, is_ask=i % 2 == 0,
                                 tif=0))  # fmt: skip
        engine.advance(NOW + 60_000)
        return [(t.price, t.size, t.timestamp) for t in engine.state.history.trades]

    first = run()
    assert first
    assert first == run()


def test_tx_that_expires_before_executing_fails_and_frees_its_nonce():
    engine = Engine(quiet_config(latency_ms=500), now_ms=NOW)
    trader = Trader.open(engine)
    tx_type, info = trader.create_order(ETH, 1, 1000, 290000, is_ask=False)
    info["ExpiredAt"] = NOW + 100
    record = engine.submit_tx(tx_type, info, now_ms=NOW)

    engine.advance(NOW + 500)

    assert engine.tx(record.hash).status == 0
    assert json.loads(engine.tx(record.hash).event_info)["ae"] == "invalid expiry"
    assert engine.next_nonce(trader.account_index, 3) == 0
    assert trader.order(1) is None


def test_sub_account_shares_the_l1_address_and_registers_its_own_key(engine, trader):
    trader.run(trader.create_sub_account())

    master, sub = engine.accounts_by_l1(engine.account(trader.account_index).l1_address)
    assert master.index == trader.account_index
    assert sub.collateral == 0
    builder = Trader(engine, sub.index, api_key_index=4)
    builder.run(builder.change_pub_key(base64.b64encode(bytes(40)).decode()))
    assert engine.api_keys(sub.index)[0].public_key_hex == "00" * 40
