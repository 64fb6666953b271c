"""BookReplica: snapshot + deltas with begin_nonce continuity, best prices, depth and age."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from exchange.book import BookReplica
from exchange.parse import parse_order_book_depth
from exchange.types import BookLevel, OrderBook

# the recorded Lighter payloads (tests/fixtures/lighter)
from tests.paths import FIXTURES


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def levels(*pairs: tuple[str, str]) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(price=Decimal(p), size=Decimal(s)) for p, s in pairs)


def book(
    bids: tuple[BookLevel, ...] = (),
    asks: tuple[BookLevel, ...] = (),
    nonce: int = 10,
    begin_nonce: int = 0,
) -> OrderBook:
    return OrderBook(market_id=0, bids=bids, asks=asks, nonce=nonce, begin_nonce=begin_nonce)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def replica(clock: Clock) -> BookReplica:
    replica = BookReplica(0, clock)
    replica.apply_snapshot(
        book(
            bids=levels(("99.0", "1"), ("98.5", "2")),
            asks=levels(("101.0", "3"), ("102.0", "4")),
            nonce=10,
        )
    )
    return replica


def test_snapshot_sets_best_prices_and_mid(replica: BookReplica) -> None:
    assert (replica.best_bid, replica.best_ask) == (Decimal("99.0"), Decimal("101.0"))
    assert replica.mid == Decimal("100.0")


def test_contiguous_delta_changes_and_removes_levels(replica: BookReplica) -> None:
    applied = replica.apply_delta(
        book(
            bids=levels(("99.0", "0"), ("99.5", "5")),
            asks=levels(("101.0", "0")),
            nonce=11,
            begin_nonce=10,
        )
    )

    assert applied
    assert replica.depth() == OrderBook(
        market_id=0,
        bids=levels(("99.5", "5"), ("98.5", "2")),
        asks=levels(("102.0", "4")),
        nonce=11,
    )


def test_delta_with_a_nonce_gap_is_refused_and_desyncs(replica: BookReplica) -> None:
    applied = replica.apply_delta(book(bids=levels(("99.9", "1")), nonce=13, begin_nonce=12))

    assert not applied
    assert not replica.synced
    assert replica.best_bid == Decimal("99.0")


def test_delta_before_any_snapshot_is_refused(clock: Clock) -> None:
    replica = BookReplica(0, clock)
    assert not replica.apply_delta(book(bids=levels(("1", "1")), nonce=2, begin_nonce=1))


def test_prices_formatted_differently_are_one_level(replica: BookReplica) -> None:
    replica.apply_delta(book(bids=levels(("99.00", "0")), nonce=11, begin_nonce=10))
    assert replica.best_bid == Decimal("98.5")


def test_depth_is_limited_per_side(replica: BookReplica) -> None:
    depth = replica.depth(1)
    assert (len(depth.bids), len(depth.asks)) == (1, 1)


def test_top_carries_sizes_of_best_levels(replica: BookReplica) -> None:
    top = replica.top()
    assert (top.bid_size, top.ask_size) == (Decimal("1"), Decimal("3"))


def test_empty_side_has_no_mid(clock: Clock) -> None:
    replica = BookReplica(0, clock)
    replica.apply_snapshot(book(bids=levels(("99", "1"))))
    assert replica.best_ask is None
    assert replica.mid is None


def test_book_ages_and_turns_stale(replica: BookReplica, clock: Clock) -> None:
    clock.now += 4
    assert replica.age_s() == pytest.approx(4)
    assert not replica.is_stale(5)
    clock.now += 2
    assert replica.is_stale(5)


def test_invalidated_book_is_stale_however_fresh(replica: BookReplica) -> None:
    replica.invalidate()
    assert replica.is_stale(1_000)


def test_book_never_synced_is_stale(clock: Clock) -> None:
    assert BookReplica(0, clock).is_stale(1_000)


def test_real_snapshot_and_update_payloads_apply_in_order(clock: Clock) -> None:
    snapshot = json.loads((FIXTURES / "ws_order_book_subscribed.json").read_text())
    update = json.loads((FIXTURES / "ws_order_book_update.json").read_text())
    first = parse_order_book_depth(snapshot["order_book"], 0)
    delta = parse_order_book_depth(update["order_book"], 0)
    replica = BookReplica(0, clock)
    replica.apply_snapshot(first)
    # the captured frames are not consecutive; align the snapshot nonce to test the merge
    replica.nonce = delta.begin_nonce

    assert replica.apply_delta(delta)
    assert replica.nonce == delta.nonce
    assert Decimal("2064.54") in {level.price for level in replica.depth().asks}
