"""API-level checks of the non-order transactions (cancel, modify, leverage, margin, keys,
withdraw, groups) — each error code the engine raises for them."""

import json

import pytest

from exchange.simulator.engine import Engine
from exchange.simulator.types import SimError
from exchange.simulator.workload import Trader, TxBuilder, quiet_config

NOW = 1_790_000_000_000
ETH = 0


@pytest.fixture
def trader() -> Trader:
    return Trader.open(Engine(quiet_config(), now_ms=NOW))


def with_changes(tx: tuple[int, dict], **changes) -> tuple[int, dict]:
    tx_type, info = tx
    return tx_type, {**info, **changes}


# (name, builder call, field changes, code)
ROWS = [
    ("cancel unknown market", lambda t: t.cancel_order(ETH, 1), {"MarketIndex": 77}, 21602),
    ("cancel index zero", lambda t: t.cancel_order(ETH, 1), {"Index": 0}, 21700),
    ("cancel index too large", lambda t: t.cancel_order(ETH, 1), {"Index": 1 << 60}, 21700),
    ("modify zero size", lambda t: t.modify_order(ETH, 1, 10, 1), {"BaseAmount": 0}, 21701),
    ("modify zero price", lambda t: t.modify_order(ETH, 1, 10, 1), {"Price": 0}, 21702),
    ("modify negative trigger", lambda t: t.modify_order(ETH, 1, 10, 1), {"TriggerPrice": -1},
     21729),
    ("leverage unknown market", lambda t: t.update_leverage(ETH, 500), {"MarketIndex": 9},
     21602),
    ("margin zero amount", lambda t: t.update_margin(ETH, 1, 1), {"USDCAmount": 0}, 21300),
    ("margin bad direction", lambda t: t.update_margin(ETH, 1, 1), {"Direction": 2}, 21615),
    ("pub key not base64", lambda t: t.change_pub_key("AA=="), {"PubKey": "**"}, 21501),
    ("pub key wrong length", lambda t: t.change_pub_key("AA=="), {}, 21501),
    ("withdraw other asset", lambda t: t.withdraw(1), {"AssetIndex": 1}, 21801),
    ("withdraw spot route", lambda t: t.withdraw(1), {"RouteType": 1}, 21124),
    ("withdraw nothing", lambda t: t.withdraw(1), {"Amount": 0}, 21116),
    ("cancel-all market with schedule", lambda t: t.cancel_all(1, NOW + 600_000, market_id=ETH),
     {}, 21713),
    ("cancel-all unknown market", lambda t: t.cancel_all(0, 0, market_id=77), {}, 21602),
    ("attributes not an object", lambda t: t.cancel_order(ETH, 1), {"L2TxAttributes": [1]},
     21501),
]  # fmt: skip


@pytest.mark.parametrize(("name", "build", "changes", "code"), ROWS, ids=[r[0] for r in ROWS])
def test_rejections(trader, name, build, changes, code):
    tx = with_changes(build(trader), **changes)
    with pytest.raises(SimError) as caught:
        trader.engine.submit_tx(*tx, now_ms=NOW)
    assert caught.value.code == code


def test_tx_info_may_be_a_json_string(trader):
    tx_type, info = trader.create_order(ETH, 1, 1000, 290000, is_ask=False)

    record = trader.engine.submit_tx(tx_type, json.dumps(info), now_ms=NOW)

    assert record.info == json.dumps(info)


def test_malformed_json_is_21501(trader):
    with pytest.raises(SimError) as caught:
        trader.engine.submit_tx(14, "{not json", now_ms=NOW)
    assert caught.value.code == 21501


def group_orders(now_ms: int) -> dict[str, dict]:
    def fields(coi: int, base: int, order_type: int, *, is_ask: bool, trigger: int = 0) -> dict:
        return TxBuilder.order_fields(
            ETH, coi, base, 310000 if is_ask else 290000, is_ask=is_ask, order_type=order_type,
            tif=1, reduce_only=order_type != 0, trigger_price=trigger, now_ms=now_ms,
        )  # fmt: skip

    return {
        "parent": fields(1, 1000, 0, is_ask=False),
        "tp": fields(2, 0, 5, is_ask=True, trigger=305000),
        "sl": fields(3, 0, 3, is_ask=True, trigger=295000),
        "sized_sl": fields(3, 1000, 3, is_ask=True, trigger=295000),
        "same_side_sl": fields(3, 0, 3, is_ask=False, trigger=295000),
        "other_market": {**fields(3, 0, 3, is_ask=True, trigger=295000), "MarketIndex": 2},
        "dup_index": fields(2, 0, 3, is_ask=True, trigger=295000),
    }


@pytest.mark.parametrize(
    ("grouping", "names"),
    [
        (1, ["tp", "sl"]),  # OTO parent must not be conditional
        (1, ["parent", "sized_sl"]),  # OTO child is sized by the parent
        (1, ["parent", "same_side_sl"]),  # OTO child closes the parent's side
        (3, ["parent", "tp", "other_market"]),
        (3, ["parent", "tp", "dup_index"]),
        (2, ["tp", "same_side_sl"]),  # OCO legs share a side
    ],
)
def test_invalid_group_structure_is_21743(trader, grouping, names):
    orders = group_orders(NOW)
    tx = trader.grouped(grouping, [orders[n] for n in names])
    with pytest.raises(SimError) as caught:
        trader.engine.submit_tx(*tx, now_ms=NOW)
    assert caught.value.code == 21743
