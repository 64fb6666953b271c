"""A driver for hand-built event sequences, playing the runner's part for A's orders."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

from bots.strategies.grid import LiveOrder, MarketView, Side
from bots.strategies.hedge import HedgeStrategy, OrderSent
from bots.strategies.protocol import (
    Cancel,
    Decide,
    Event,
    Filled,
    Intent,
    Leg,
    MarketOrder,
    OrderEnded,
    Place,
    PositionSet,
    Tick,
)

from .test_hedge_venue import MARKET, A, B, make_config


@dataclass
class Hand:
    """Feeds a strategy events written by hand, playing the runner's part for A's working orders
    (a Place is tracked under the next client index, a Cancel hides the order, an end or the
    fill that completes it removes it); `decide` returns what both legs' decisions ask for."""

    strategy: HedgeStrategy
    now_ms: int = 0
    market: MarketView = MARKET
    orders: dict[int, LiveOrder] = field(default_factory=dict)
    cancelling: set[int] = field(default_factory=set)
    filled: dict[int, Decimal] = field(default_factory=dict)
    last_index: int = 10
    # Market orders are numbered from 900 (`last_market` is the latest); with `tell_sent`, the
    # strategy is told each one's index (`OrderSent`), as a runner that knows it would.
    last_market: int = 899
    tell_sent: bool = False

    def at(self, now_ms: int) -> list[Intent]:
        """A tick at `now_ms`, then a decision on both legs (what the runner's timer does)."""
        self.now_ms = now_ms
        assert self.strategy.on_event(Tick(now_ms)) == []
        return self.decide()

    def tell(self, *events: Event) -> list[Intent]:
        """A burst of events, then a decision on both legs."""
        for event in events:
            self._runner_sees(event)
            assert self.strategy.on_event(event) == []
        return self.decide()

    def decide(self) -> list[Intent]:
        working = [o for i, o in self.orders.items() if i not in self.cancelling]
        intents = self.strategy.on_event(Decide(A, self.market, working))
        intents += self.strategy.on_event(Decide(B, self.market, []))
        for intent in intents:
            if isinstance(intent, Place):
                self.last_index += 1
                o = intent.order
                self.orders[self.last_index] = LiveOrder(
                    o.level, o.side, o.price, o.size_base, self.last_index, "intent"
                )
            elif isinstance(intent, Cancel):
                self.cancelling.add(intent.client_order_index)
            elif isinstance(intent, MarketOrder):
                self.last_market += 1
                if self.tell_sent:
                    self.strategy.on_event(OrderSent(intent.leg, self.last_market))
        return intents

    def fill(self, leg: Leg, side: Side, size: str, price: str, position: str,
             index: int | None = None) -> list[Intent]:  # fmt: skip
        """A fill as the stream brings it: the leg's new position, then the fill (of A's last
        placed order, or B's last market order, unless `index` says otherwise)."""
        if index is None:
            index = self.last_index if leg == A else self.last_market
        level = self.orders[index].level if index in self.orders else None
        return self.tell(
            PositionSet(leg, Decimal(position)),
            Filled(leg, side, Decimal(size), level, index, Decimal(price)),
        )

    def ended(self, leg: Leg, index: int, reason: str = "canceled") -> list[Intent]:
        return self.tell(OrderEnded(leg, index, reason))

    def events(self) -> list[str]:
        return [str(t.event) for t in self.strategy.drain_transitions()]

    def _runner_sees(self, event: Event) -> None:
        if isinstance(event, OrderEnded) and event.leg == A:
            self.orders.pop(event.client_order_index, None)
            self.cancelling.discard(event.client_order_index)
        elif isinstance(event, Filled) and event.leg == A and event.client_order_index:
            index = event.client_order_index
            self.filled[index] = self.filled.get(index, Decimal(0)) + event.size_base
            order = self.orders.get(index)
            if order is not None and self.filled[index] >= order.size_base:
                del self.orders[index]
                self.cancelling.discard(index)


def make_hand(**overrides: object) -> Hand:
    return Hand(HedgeStrategy(make_config(**overrides), random.Random(0)))


def market_orders(intents: list[Intent]) -> list[MarketOrder]:
    return [i for i in intents if isinstance(i, MarketOrder)]


def places(intents: list[Intent]) -> list[Place]:
    return [i for i in intents if isinstance(i, Place)]


def test_hand_tracks_a_place_under_the_next_index_and_hides_a_cancel() -> None:
    hand = make_hand()
    hand.at(0)
    (place,) = places(hand.tell(PositionSet(A, Decimal(0)), PositionSet(B, Decimal(0))))
    assert hand.orders[11].price == place.order.price
    hand.market = MarketView(Decimal("101.0"), Decimal("101.2"), Decimal("101.1"))
    assert hand.at(5_000) == [Cancel(A, 11)]  # timed out (5 s), and the price moved
    assert 11 in hand.cancelling
    hand.ended(A, 11)
    assert 11 not in hand.orders
