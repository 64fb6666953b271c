"""A small simulated venue for the hedge strategy's tests, and tests of the venue itself.

It plays exchange and runner at once: it executes the strategy's intents (A's maker order rests
until the test fills it, in pieces; B's market orders execute, partly execute, are refused, or go
silent and maybe execute late, as the test scripts them), reports back in the runner's order
(per leg first in, first out; a position before the fill that made it, fills of an order before
its end), and hides orders being cancelled from `working` like the runner does. Every intent is
checked against the venue's truth at the moment it is emitted: `violations` lists what broke.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from bots.strategies.grid import LiveOrder, MarketView, Side
from bots.strategies.hedge import (
    Direction,
    HedgeConfig,
    HedgeState,
    HedgeStrategy,
    OrderSent,
    RetryPolicy,
)
from bots.strategies.protocol import (
    Cancel,
    Decide,
    Event,
    Filled,
    Halt,
    Intent,
    Leg,
    MarketOrder,
    OrderEnded,
    Place,
    PositionSet,
    Tick,
)

A = Leg(account_id=1, market_id=7)
B = Leg(account_id=2, market_id=7)
BID, ASK = Decimal("100.0"), Decimal("100.2")
MARKET = MarketView(BID, ASK, (BID + ASK) / 2)
LOT = Decimal("0.001")
UNSETTLED = (HedgeState.HEDGING, HedgeState.HEDGING_CLOSE, HedgeState.REPAIRING)
MIN_BASE = Decimal("0.005")


def make_config(**overrides: object) -> HedgeConfig:
    """A valid config on a market like ETH (tick 0.1, lot 0.001, minimum 0.005)."""
    fields: dict[str, object] = {
        "leg_a": A,
        "leg_b": B,
        "direction": Direction.LONG,
        "size_base": Decimal("0.050"),
        "tick_size": Decimal("0.1"),
        "lot_size": LOT,
        "min_base_amount": MIN_BASE,
        "order_timeout_ms": 5_000,
        "hold_ms": 1_000,
        "cooldown_ms": 500,
        "max_slippage_bps": Decimal(20),
        "imbalance_tolerance_base": Decimal("0.004"),
        "hedge_retry": RetryPolicy(max_attempts=4, backoff_base_ms=100, backoff_cap_ms=800),
        "hedge_timeout_ms": 1_000,
        "repair_attempts": 3,
        "imbalance_grace_ms": 300,
    }
    fields.update(overrides)
    return HedgeConfig(**fields)  # type: ignore[arg-type]


class Outcome(StrEnum):
    """What the venue does with a market order."""

    FILL = "fill"  # executes in full
    PARTIAL = "partial"  # executes one lot short of half, the rest expires
    REJECT = "reject"  # refused: ends with nothing filled
    # Never executes, and is reported (as a runner's reconcile would) only long after the
    # strategy's timeout.
    SILENT = "silent"
    LATE = "late"  # executes in full, but only after the strategy's hedge timeout


@dataclass
class RestingOrder:
    index: int
    side: Side
    price: Decimal
    size: Decimal
    level: int
    filled: Decimal = Decimal(0)
    cancel_requested: bool = False

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled


@dataclass
class PendingMarket:
    """A market order executed later: LATE ones (after the strategy gave up on them)."""

    leg: Leg
    index: int
    side: Side
    size: Decimal
    due_ms: int
    reduce_only: bool
    executes: bool = True


@dataclass
class Venue:
    strategy: HedgeStrategy
    outcomes: deque[Outcome] = field(default_factory=deque)
    delays: deque[int] = field(default_factory=deque)  # report delay per report, in steps
    now_ms: int = 0
    positions: dict[Leg, Decimal] = field(default_factory=lambda: {A: Decimal(0), B: Decimal(0)})
    resting: dict[int, RestingOrder] = field(default_factory=dict)
    # The runner's view: orders of A that may rest (until their end is reported).
    known: dict[int, RestingOrder] = field(default_factory=dict)
    late: list[PendingMarket] = field(default_factory=list)
    # Reports waiting, per leg, with the step they become deliverable at.
    outbox: dict[Leg, deque[tuple[int, Event]]] = field(
        default_factory=lambda: {A: deque(), B: deque()}
    )
    step: int = 0
    fills: list[tuple[Leg, Side, Decimal, Decimal]] = field(default_factory=list)
    intents: list[Intent] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    # Positions as last reported, and market orders sent whose outcome is not reported yet.
    reported: dict[Leg, Decimal] = field(default_factory=lambda: {A: Decimal(0), B: Decimal(0)})
    unresolved: dict[int, tuple[Leg, int]] = field(default_factory=dict)
    market_sizes: dict[int, Decimal] = field(default_factory=dict)
    halted: bool = False
    market: MarketView = MARKET
    tell_sent: bool = True  # tell the strategy each market order's index, as a runner can
    log: list[str] = field(default_factory=list)
    _next_index: int = 100

    # --- driving ----------------------------------------------------------------------------

    def start(self) -> None:
        """What the runner does at start: the clock, both positions, then a decision."""
        self.tell(Tick(self.now_ms))
        self.tell(PositionSet(A, self.positions[A]))
        self.tell(PositionSet(B, self.positions[B]))
        self.decide()

    def tell(self, event: Event | OrderSent) -> None:
        if not isinstance(event, (Tick, Decide)):
            self.log.append(f"{self.now_ms} ms step {self.step}: told {event}")
        self.execute_all(self.strategy.on_event(event))
        for t in self.strategy.drain_transitions():
            self.log.append(f"{t.at_ms} ms: {t.source} -> {t.target} ({t.event}: {t.reason})")

    def trace(self) -> str:
        """The last things that happened (for a failing example's message)."""
        return "\n".join(self.log[-60:])

    def decide(self) -> None:
        """The end of a burst: a decision on each leg, intents executed at once."""
        self.tell(Decide(A, self.market, self.working()))
        self.tell(Decide(B, self.market, []))

    def advance(self, ms: int) -> None:
        """Time passes: late orders due by now execute, then a tick and a decision."""
        self.now_ms += ms
        for pending in [p for p in self.late if p.due_ms <= self.now_ms]:
            self.late.remove(pending)
            leg, side = pending.leg, pending.side
            if pending.executes:  # reduce-only is checked when it executes, as on the exchange
                size = self._executable(leg, side, pending.size, pending.reduce_only)
                self._finish(leg, pending.index, side, pending.size, size, "canceled-reduce-only")
            else:
                self._finish(leg, pending.index, side, pending.size, Decimal(0), "never executed")
        self.tell(Tick(self.now_ms))
        self.decide()

    def deliver(self) -> int:
        """One step: deliver every report due by now (per leg in order); returns how many."""
        self.step += 1
        for order in [o for o in self.resting.values() if o.cancel_requested]:
            del self.resting[order.index]
            self._report(A, OrderEnded(A, order.index, "canceled"))
        delivered = 0
        for leg in (A, B):
            queue = self.outbox[leg]
            while queue and queue[0][0] <= self.step:
                _, event = queue.popleft()
                self._runner_sees(event)
                self.tell(event)
                delivered += 1
        if delivered:
            self.decide()
        return delivered

    def fill_a(self, lots: int) -> Decimal:
        """A taker hits A's resting order for up to `lots` lots; returns the size filled."""
        order = next(iter(self.resting.values()), None)
        if order is None or lots <= 0:
            return Decimal(0)
        size = min(order.remaining, LOT * lots)
        order.filled += size
        self._trade(A, order.side, order.price, size, order.index, order.level)
        if order.remaining == 0:
            del self.resting[order.index]
        return size

    def settle(self, *, fill_a: bool = False, rounds: int = 600, step_ms: int = 250) -> None:
        """Deliver everything and let time pass until all is quiet (the scripted faults and
        delays run out: they are finite). With `fill_a`, takers keep filling A's orders in
        full, so the cycles run to their end."""
        quiet = 0
        for _ in range(rounds):
            if fill_a:
                self.fill_a(10**9)
            self.deliver()
            self.advance(step_ms)
            busy = (
                any(self.outbox.values()) or self.late or self.strategy.orders.inflight is not None
            )
            moving = self.strategy.state in UNSETTLED
            unfinished = fill_a and not self.strategy.finished
            quiet = 0 if busy or moving or unfinished else quiet + 1
            if quiet >= 12:
                return

    @property
    def net(self) -> Decimal:
        return self.positions[A] + self.positions[B]

    def working(self) -> list[LiveOrder]:
        """A's orders the runner believes may rest, minus those being cancelled."""
        return [
            LiveOrder(o.level, o.side, o.price, o.size, o.index, "open")
            for o in self.known.values()
            if not o.cancel_requested
        ]

    # --- executing intents --------------------------------------------------------------------

    def execute_all(self, intents: list[Intent]) -> None:
        for intent in intents:
            self.log.append(f"{self.now_ms} ms: intent {intent}; venue {self.positions}")
            self.intents.append(intent)
            self.execute(intent)

    def execute(self, intent: Intent) -> None:
        if isinstance(intent, Place):
            self._place(intent)
        elif isinstance(intent, Cancel):
            order = self.resting.get(intent.client_order_index)
            known = self.known.get(intent.client_order_index)
            if known is not None:
                known.cancel_requested = True
            if order is not None:
                order.cancel_requested = True  # processed at the next step: fills may cross it
        elif isinstance(intent, MarketOrder):
            self._market(intent)
        elif isinstance(intent, Halt):
            self.halted = True

    def _place(self, intent: Place) -> None:
        order = intent.order
        config = self.strategy.config
        # What the venue has reported (a fill it has not reported yet cannot be hedged yet: only
        # a market order given up on, executing after the strategy's timeout, can be one here).
        reported_net = self.reported[A] + self.reported[B]
        if intent.leg != A:
            self.violations.append(f"a limit order on B: {intent}")
        if abs(reported_net) > config.imbalance_tolerance_base:
            self.violations.append(f"Place on A with the reported net at {reported_net}: {intent}")
        for index, (leg, sent_ms) in self.unresolved.items():
            # Without `OrderSent`, a late report of an order given up on can be taken for the
            # one in flight (documented): then only the reported net above is checked.
            if self.tell_sent and self.now_ms - sent_ms < config.hedge_timeout_ms:
                self.violations.append(f"Place on A with market order {index} on {leg} in flight")
        if self.resting:
            self.violations.append(f"Place on A with {sorted(self.resting)} still on the book")
        if not order.post_only or order.size_base <= 0 or order.size_base % LOT:
            self.violations.append(f"bad maker order {order}")
        bid, ask = self.market.best_bid, self.market.best_ask
        assert bid is not None and ask is not None
        if (order.side is Side.BUY and order.price >= ask) or (
            order.side is Side.SELL and order.price <= bid
        ):
            self.violations.append(f"maker order would cross: {order}")
        index = self._index()
        resting = RestingOrder(index, order.side, order.price, order.size_base, order.level)
        self.resting[index] = resting
        self.known[index] = RestingOrder(
            index, order.side, order.price, order.size_base, order.level
        )

    def _market(self, intent: MarketOrder) -> None:
        index = self._index()
        self.unresolved[index] = (intent.leg, self.now_ms)
        if self.tell_sent:
            self.tell(OrderSent(intent.leg, index))
        limit = self._touch(intent.side)
        if (intent.side is Side.BUY and intent.worst_price < limit) or (
            intent.side is Side.SELL and intent.worst_price > limit
        ):
            self.violations.append(f"worst price {intent.worst_price} cannot fill at {limit}")
        outcome = self.outcomes.popleft() if self.outcomes else Outcome.FILL
        leg, side, requested = intent.leg, intent.side, intent.size_base
        if outcome in (Outcome.LATE, Outcome.SILENT):
            wait = 500 if outcome is Outcome.LATE else 2_000
            due = self.now_ms + self.strategy.config.hedge_timeout_ms + wait
            executes = outcome is Outcome.LATE
            self.late.append(
                PendingMarket(leg, index, side, requested, due, intent.reduce_only, executes)
            )
            return
        size = self._executable(leg, side, requested, intent.reduce_only)
        reason = "canceled-reduce-only"
        if outcome is Outcome.PARTIAL:
            size, reason = (
                max(Decimal(0), (size / 2).quantize(LOT) - LOT),
                "canceled-too-much-slippage",
            )
        elif outcome is Outcome.REJECT:
            size, reason = Decimal(0), "canceled-margin-not-allowed"
        self._finish(leg, index, side, requested, size, reason)

    def _executable(self, leg: Leg, side: Side, size: Decimal, reduce_only: bool) -> Decimal:
        """What may execute now: a reduce-only order never past flat (trimmed, or nothing)."""
        if not reduce_only:
            return size
        position = self.positions[leg]
        return min(size, abs(position)) if position * side.sign < 0 else Decimal(0)

    def _finish(
        self, leg: Leg, index: int, side: Side, requested: Decimal, size: Decimal, reason: str
    ) -> None:
        """Execute `size` of an order for `requested`; the rest ends with `reason`."""
        if size > 0:
            self._execute_market(leg, index, side, size)
        if size < requested:
            self._report(leg, OrderEnded(leg, index, reason))

    def _execute_market(self, leg: Leg, index: int, side: Side, size: Decimal) -> None:
        self.market_sizes[index] = size
        self._trade(leg, side, self._touch(side), size, index, None)

    def _touch(self, side: Side) -> Decimal:
        """The price a market order on `side` takes (the book is deep enough for the bot)."""
        price = self.market.best_ask if side is Side.BUY else self.market.best_bid
        assert price is not None
        return price

    def move(self, ticks: int) -> None:
        """The book moves by `ticks` (A's order stays where it is)."""
        shift = Decimal("0.1") * ticks
        bid, ask = BID + shift, ASK + shift
        self.market = MarketView(bid, ask, (bid + ask) / 2)

    # --- reports ------------------------------------------------------------------------------

    def _trade(
        self, leg: Leg, side: Side, price: Decimal, size: Decimal, index: int, level: int | None
    ) -> None:
        self.positions[leg] += size * side.sign
        self.fills.append((leg, side, price, size))
        # One frame, as the account stream sends it: the position first, then the fill; the
        # runner tells both in one burst (the contract docs/hedge.md states).
        frame = (
            PositionSet(leg, self.positions[leg]),
            Filled(leg, side, size, level, index, price),
        )
        self._report(leg, *frame)

    def _report(self, leg: Leg, *events: Event) -> None:
        delay = self.delays.popleft() if self.delays else 1
        queue = self.outbox[leg]
        due = max(self.step + delay, queue[-1][0] if queue else 0)
        queue.extend((due, event) for event in events)

    def _runner_sees(self, event: Event) -> None:
        """The runner's working orders follow the reports it receives."""
        if isinstance(event, PositionSet):
            self.reported[event.leg] = event.size_base
        elif isinstance(event, OrderEnded):
            self.unresolved.pop(event.client_order_index, None)
        elif isinstance(event, Filled) and event.client_order_index in self.market_sizes:
            index = event.client_order_index
            self.market_sizes[index] -= event.size_base
            if self.market_sizes[index] <= 0:
                self.unresolved.pop(index, None)
        if isinstance(event, OrderEnded) and event.leg == A:
            self.known.pop(event.client_order_index, None)
        elif isinstance(event, Filled) and event.leg == A:
            order = self.known.get(event.client_order_index or -1)
            if order is not None:
                order.filled += event.size_base
                if order.filled >= order.size:
                    del self.known[order.index]

    def _index(self) -> int:
        self._next_index += 1
        return self._next_index

    def set_position_by_hand(self, leg: Leg, size: Decimal) -> None:
        """Someone trades the account by hand: only a position report tells the strategy."""
        self.positions[leg] = size
        self._report(leg, PositionSet(leg, size))


def make_venue(seed: int = 0, **overrides: object) -> Venue:
    return Venue(HedgeStrategy(make_config(**overrides), random.Random(seed)))


# --- the venue's own behaviour (the properties are only as good as it is) ----------------------


def test_venue_reports_a_position_before_the_fill_that_made_it() -> None:
    venue = make_venue()
    venue.start()
    venue.fill_a(3)
    kinds = [type(event).__name__ for _, event in venue.outbox[A]]
    assert kinds == ["PositionSet", "Filled"]


def test_venue_hides_an_order_being_cancelled_and_ends_it_after_its_fills() -> None:
    venue = make_venue()
    venue.start()
    (place,) = [i for i in venue.intents if isinstance(i, Place)]
    index = next(iter(venue.resting))
    venue.fill_a(2)
    venue.execute(Cancel(A, index))
    assert venue.working() == []
    venue.fill_a(1)  # the cancel crosses a fill
    venue.step = -10  # hold deliveries: look at the queue
    venue.deliver()
    kinds = [type(event).__name__ for _, event in venue.outbox[A]]
    assert kinds == ["PositionSet", "Filled", "PositionSet", "Filled", "OrderEnded"]
    assert place.order.size_base == Decimal("0.050")


def test_venue_trims_a_reduce_only_order_and_refuses_one_that_would_grow() -> None:
    venue = make_venue()
    venue.positions[B] = Decimal("-0.010")
    venue.execute(MarketOrder(B, Side.BUY, Decimal("0.050"), Decimal("101"), reduce_only=True))
    assert venue.positions[B] == 0
    venue.execute(MarketOrder(B, Side.BUY, Decimal("0.050"), Decimal("101"), reduce_only=True))
    assert venue.positions[B] == 0
    assert isinstance(venue.outbox[B][-1][1], OrderEnded)
