"""Order book: levels best first, time priority within a level, removal, crossing checks."""

from exchange.simulator.book import OrderBook
from exchange.simulator.types import Order

_next = iter(range(1, 10_000))


def order(price: int, size: int, *, is_ask: bool, owner: int = 1) -> Order:
    return Order(
        order_index=next(_next), client_order_index=0, market_id=0, owner_account_index=owner,
        is_ask=is_ask, type="limit", time_in_force="good-till-time", reduce_only=False,
        price=price, trigger_price=0, initial_base_amount=size, remaining_base_amount=size,
    )  # fmt: skip


def test_levels_are_sorted_best_first_and_aggregated():
    book = OrderBook(0)
    for price, size in ((101, 1), (103, 2), (102, 3), (101, 4)):
        book.add(order(price, size, is_ask=True))
    for price, size in ((99, 1), (97, 2), (98, 3)):
        book.add(order(price, size, is_ask=False))

    assert book.asks.depth() == [(101, 5), (102, 3), (103, 2)]
    assert book.bids.depth() == [(99, 1), (98, 3), (97, 2)]
    assert book.bids.depth(2) == [(99, 1), (98, 3)]
    assert book.mid_price() == 100


def test_best_order_is_the_oldest_at_the_best_price():
    book = OrderBook(0)
    first, second = order(101, 1, is_ask=True), order(101, 1, is_ask=True)
    book.add(first)
    book.add(second)

    assert book.asks.best_order() is first
    book.remove(first)
    assert book.asks.best_order() is second


def test_removing_the_last_order_of_a_level_removes_the_level():
    book = OrderBook(0)
    only = order(101, 1, is_ask=True)
    book.add(only)

    book.remove(only)

    assert book.asks.depth() == []
    assert book.asks.best_price() is None
    assert not book.asks


def test_removing_an_order_that_is_not_resting_is_a_no_op():
    book = OrderBook(0)
    book.add(order(101, 1, is_ask=True))
    book.remove(order(101, 1, is_ask=True))
    assert book.asks.depth() == [(101, 1)]


def test_crosses_compares_with_the_opposite_best_price():
    book = OrderBook(0)
    book.add(order(101, 1, is_ask=True))
    book.add(order(99, 1, is_ask=False))

    assert book.crosses(is_ask=False, price=101)
    assert not book.crosses(is_ask=False, price=100)
    assert book.crosses(is_ask=True, price=99)
    assert not book.crosses(is_ask=True, price=100)
    assert not book.is_crossed()


def test_owner_lots_exclude_reduce_only_orders():
    book = OrderBook(0)
    book.add(order(101, 5, is_ask=True, owner=7))
    reduce_only = order(102, 3, is_ask=True, owner=7)
    reduce_only.reduce_only = True
    book.add(reduce_only)

    assert book.asks.owner_lots[7] == 5


def test_orders_lists_best_first_with_limit():
    book = OrderBook(0)
    orders = [order(p, 1, is_ask=False) for p in (97, 99, 98)]
    for o in orders:
        book.add(o)

    assert [o.price for o in book.bids.orders(2)] == [99, 98]
