"""Conditional and grouped orders: SL/TP triggers on the mark price, OTO, OCO, OTOCO,
position-tied TP/SL."""

from decimal import Decimal

import pytest

from exchange.simulator.engine import Engine
from exchange.simulator.types import SimError
from exchange.simulator.workload import Trader, TxBuilder, quiet_config

NOW = 1_790_000_000_000
ETH = 0
EXPIRY = NOW + 86_400_000


@pytest.fixture
def engine() -> Engine:
    return Engine(quiet_config(), now_ms=NOW)


@pytest.fixture
def book(engine: Engine) -> Trader:
    """A deep two-sided book around 3000 so triggered orders can fill."""
    quoter = Trader.open(engine, "10000000")
    for i, price in enumerate((290000, 280000, 270000), start=1):
        quoter.run(quoter.create_order(ETH, i, 100000, price, is_ask=False))
    for i, price in enumerate((310000, 320000, 330000), start=10):
        quoter.run(quoter.create_order(ETH, i, 100000, price, is_ask=True))
    return quoter


@pytest.fixture
def long(engine: Engine, book: Trader) -> Trader:
    """A trader long 1 ETH (bought at 3100)."""
    trader = Trader.open(engine)
    trader.run(trader.create_order(ETH, 100, 10000, 310000, is_ask=False, tif=0))
    assert trader.position(ETH) == 10000
    return trader


def conditional(order_type: int, trigger: int, price: int, *, base: int = 10000, coi: int = 0,
                is_ask: bool = True, tif: int = 0) -> dict:  # fmt: skip
    return TxBuilder.order_fields(
        ETH, coi, base, price, is_ask=is_ask, order_type=order_type, tif=tif,
        reduce_only=True, trigger_price=trigger, order_expiry=EXPIRY,
    )  # fmt: skip


def test_stop_loss_waits_pending_until_the_mark_falls_to_its_trigger(engine, long):
    fields = conditional(2, 295000, 280000, coi=1)
    long.run((14, long._envelope(fields, None)))

    order = long.order(1)
    assert (order.status, order.trigger_status) == ("pending", "mark-price")
    engine.set_reference_price(ETH, Decimal("2960"))
    assert long.order(1).status == "pending"

    engine.set_reference_price(ETH, Decimal("2950"))

    assert long.order(1).status == "filled"
    assert long.position(ETH) == 0


def test_take_profit_limit_rests_after_triggering(engine, long):
    fields = conditional(5, 305000, 320000, coi=1, tif=1)
    long.run((14, long._envelope(fields, None)))

    engine.set_reference_price(ETH, Decimal("3050"))

    order = long.order(1)
    assert order.status == "open"
    assert order.trigger_time == engine.now_ms
    assert (320000, 110000) in engine.book_levels(ETH)[0]


def test_stop_loss_for_a_short_triggers_when_the_mark_rises(engine, book):
    short = Trader.open(engine)
    short.run(short.create_order(ETH, 1, 10000, 290000, is_ask=True, tif=0))
    fields = conditional(2, 305000, 320000, coi=2, is_ask=False)
    short.run((14, short._envelope(fields, None)))

    engine.set_reference_price(ETH, Decimal("3050"))

    assert short.order(2).status == "filled"
    assert short.position(ETH) == 0


def test_oto_child_is_sized_by_the_parent_fill(engine, book):
    trader = Trader.open(engine)
    parent = TxBuilder.order_fields(ETH, 1, 5000, 310000, is_ask=False, tif=0, order_expiry=0)
    child = conditional(2, 295000, 280000, base=0, coi=2)

    trader.run(trader.grouped(1, [parent, child]))

    assert trader.order(1).status == "filled"
    kid = trader.order(2)
    assert kid.parent_order_index == trader.order(1).order_index
    assert (kid.status, kid.trigger_status) == ("pending", "mark-price")
    assert kid.remaining_base_amount == 5000


def test_oto_child_is_cancelled_when_the_parent_ends_unfilled(engine, book):
    trader = Trader.open(engine)
    parent = TxBuilder.order_fields(ETH, 1, 5000, 300000, is_ask=False, now_ms=NOW)
    child = conditional(2, 295000, 280000, base=0, coi=2)
    trader.run(trader.grouped(1, [parent, child]))
    assert trader.order(2).trigger_status == "parent-order"

    trader.run(trader.cancel_order(ETH, 1))

    assert trader.order(2).status == "canceled-child"


def test_otoco_tp_and_sl_cancel_each_other(engine, book):
    trader = Trader.open(engine)
    parent = TxBuilder.order_fields(ETH, 1, 10000, 310000, is_ask=False, tif=0, order_expiry=0)
    take_profit = conditional(5, 320000, 315000, base=0, coi=2, tif=1)
    stop_loss = conditional(3, 300000, 280000, base=0, coi=3, tif=1)

    trader.run(trader.grouped(3, [parent, take_profit, stop_loss]))
    engine.set_reference_price(ETH, Decimal("2990"))

    assert trader.order(3).status == "filled"
    assert trader.order(2).status == "canceled-oco"
    assert trader.position(ETH) == 0


def test_position_tied_oco_closes_the_whole_position(engine, long):
    take_profit = conditional(4, 320000, 280000, base=0, coi=1)
    stop_loss = conditional(2, 290000, 280000, base=0, coi=2)
    long.run(long.grouped(2, [take_profit, stop_loss]))
    long.run(long.create_order(ETH, 3, 5000, 310000, is_ask=False, tif=0))  # grow to 1.5 ETH

    engine.set_reference_price(ETH, Decimal("3250"))

    assert long.order(1).status == "filled"
    assert long.order(1).filled_base_amount == 15000
    assert long.order(2).status == "canceled-oco"
    assert long.position(ETH) == 0


def test_position_tied_orders_die_with_the_position(engine, long):
    take_profit = conditional(4, 320000, 300000, base=0, coi=1)
    stop_loss = conditional(2, 290000, 280000, base=0, coi=2)
    long.run(long.grouped(2, [take_profit, stop_loss]))

    long.run(long.create_order(ETH, 3, 10000, 290000, is_ask=True, tif=0))

    assert long.position(ETH) == 0
    assert long.order(1).status == "canceled"
    assert long.order(2).status == "canceled"


@pytest.mark.parametrize(
    ("grouping", "orders", "code"),
    [
        (4, "oco", 21741),
        (2, "one", 21742),
        (2, "two stops", 21743),
        (3, "oco", 21742),
    ],
)
def test_invalid_groups_are_rejected(engine, grouping, orders, code):
    trader = Trader.open(engine)
    tp = conditional(4, 320000, 300000, base=0, coi=1)
    sl = conditional(2, 290000, 280000, base=0, coi=2)
    group = {"oco": [tp, sl], "one": [tp], "two stops": [sl, dict(sl, ClientOrderIndex=3)]}
    with pytest.raises(SimError) as caught:
        trader.send(trader.grouped(grouping, group[orders]))
    assert caught.value.code == code


def test_modifying_a_pending_stop_moves_its_trigger(engine, long):
    long.run((14, long._envelope(conditional(2, 295000, 280000, coi=1), None)))

    long.run(long.modify_order(ETH, 1, 10000, 270000, trigger_price=285000))
    engine.set_reference_price(ETH, Decimal("2920"))

    order = long.order(1)
    assert (order.status, order.trigger_price, order.price) == ("pending", 285000, 270000)
    engine.set_reference_price(ETH, Decimal("2850"))
    assert long.order(1).status == "filled"


def test_modifying_to_at_most_the_filled_size_cancels_the_rest(engine, book):
    trader = Trader.open(engine)
    trader.run(trader.create_order(ETH, 1, 150000, 310000, is_ask=False))  # fills 100000
    assert trader.order(1).status == "open"

    trader.run(trader.modify_order(ETH, 1, 100000, 310000))

    assert trader.order(1).status == "canceled"
    assert trader.order(1).filled_base_amount == 100000


def test_twap_is_sliced_evenly_until_filled(engine, book):
    trader = Trader.open(engine)
    tx = trader.create_order(ETH, 1, 1000, 320000, is_ask=False, order_type=6,
                             order_expiry=NOW + 300_000)  # fmt: skip
    trader.run(tx)
    parent = trader.order(1)
    assert (parent.status, parent.trigger_status) == ("open", "twap")
    assert parent.filled_base_amount == 100  # first of ten 30 s slices

    engine.advance(NOW + 270_000)

    parent = trader.order(1)
    assert parent.status == "filled"
    assert parent.filled_base_amount == 1000
    assert trader.position(ETH) == 1000
    trades, _ = engine.trades(account_index=trader.account_index, limit=10, sort_dir="asc")
    assert [t.timestamp - NOW for t in trades] == [i * 30_000 for i in range(10)]
    children = {t.bid_id for t in trades}
    assert all(engine.order(trader.account_index, c).type == "twap-sub" for c in children)


def test_twap_slices_stop_at_the_worst_price_and_expire(engine, book):
    trader = Trader.open(engine)
    tx = trader.create_order(ETH, 1, 1000, 300000, is_ask=False, order_type=6,
                             order_expiry=NOW + 300_000)  # fmt: skip
    trader.run(tx)

    engine.advance(NOW + 300_000)

    assert trader.order(1).status == "canceled-expired"
    assert trader.position(ETH) == 0


def test_twap_cannot_be_modified(engine, book):
    trader = Trader.open(engine)
    tx = trader.create_order(ETH, 1, 1000, 300000, is_ask=False, order_type=6,
                             order_expiry=NOW + 300_000)  # fmt: skip
    trader.run(tx)

    record = trader.run(trader.modify_order(ETH, 1, 2000, 300000))

    assert engine.tx(record.hash).status == 0
