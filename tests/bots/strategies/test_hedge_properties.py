"""Hypothesis over random fills, partial fills, hedge failures and report timings (test venue).

Whatever happens, once faults stop and the bot settles: `|position(A) + position(B)| <=
tolerance`, the bot is not in error, its view of the positions is the venue's, and its pair PnL
is the venue's fills booked per leg. All along: no order went out on A while B was behind (nor
while another A order could still rest), checked against the venue at the moment it was emitted.
"""

from __future__ import annotations

import random
from collections import deque
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bots.strategies.accounting import Fill, Ledger
from bots.strategies.grid import Side
from bots.strategies.hedge import Direction, HedgeState, HedgeStrategy
from bots.strategies.protocol import MarketOrder, Place

from .test_hedge_venue import LOT, A, B, Outcome, Venue, make_config

PROPERTY = settings(deadline=None, max_examples=200)
# Fewer faults than a hedge's attempts plus the repairs: the bot must never need to give up.
MAX_FAULTS = 6

actions = st.one_of(
    st.tuples(st.just("fill"), st.integers(1, 30)),
    st.tuples(st.just("deliver"), st.integers(1, 3)),
    st.tuples(st.just("tick"), st.integers(0, 1_500)),
    st.tuples(st.just("move"), st.integers(-5, 5)),
)
hand_trade = st.tuples(st.just("hand"), st.integers(-12, 12))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Venue, list[tuple[str, int]], bool]:
    config = make_config(
        direction=draw(st.sampled_from(Direction)),
        size_base=LOT * draw(st.integers(5, 80)),
        imbalance_tolerance_base=draw(st.sampled_from([Decimal("0.004"), Decimal("0.010")])),
        hold_ms=(0, 2_000),
        cooldown_ms=(0, 1_000),
        order_timeout_ms=draw(st.sampled_from([300, 2_000])),
        cycles=draw(st.integers(1, 3)),
    )
    strategy = HedgeStrategy(config, random.Random(draw(st.integers(0, 2**16))))
    faults = [Outcome.REJECT, Outcome.PARTIAL, Outcome.SILENT, Outcome.LATE]
    outcomes = draw(
        st.lists(st.sampled_from([Outcome.FILL, *faults]), max_size=12).filter(
            lambda drawn: sum(o is not Outcome.FILL for o in drawn) <= MAX_FAULTS
        )
    )
    delays = draw(st.lists(st.integers(1, 3), max_size=40))
    venue = Venue(strategy, outcomes=deque(outcomes), delays=deque(delays))
    steps = draw(st.lists(st.one_of(actions, hand_trade) if draw(st.booleans()) else actions,
                          min_size=1, max_size=80))  # fmt: skip
    return venue, steps, draw(st.booleans())


def run(venue: Venue, steps: list[tuple[str, int]], fill_to_the_end: bool) -> None:
    venue.start()
    for kind, amount in steps:
        if kind == "fill":
            venue.fill_a(amount)
        elif kind == "deliver":
            for _ in range(amount):
                venue.deliver()
        elif kind == "tick":
            venue.advance(amount)
        elif kind == "move":
            venue.move(amount)
        else:
            venue.set_position_by_hand(B, venue.positions[B] + LOT * amount)
    venue.settle(fill_a=fill_to_the_end)


def venue_pnl(venue: Venue) -> Decimal:
    total = Decimal(0)
    for leg in (A, B):
        ledger = Ledger()
        for trade_id, (fill_leg, side, price, size) in enumerate(venue.fills):
            if fill_leg == leg:
                ledger.apply_fill(Fill(trade_id, str(side), price, size, Decimal(0), True, None))
        total += ledger.summary(venue.market.mid).total
    return total


@PROPERTY
@given(scenarios())
def test_after_settling_the_pair_is_within_tolerance_and_a_never_ran_ahead_of_b(
    scenario: tuple[Venue, list[tuple[str, int]], bool],
) -> None:
    venue, steps, to_the_end = scenario
    run(venue, steps, to_the_end)
    strategy = venue.strategy
    tolerance = strategy.config.imbalance_tolerance_base
    assert venue.violations == []
    assert strategy.state is not HedgeState.ERROR, strategy.drain_transitions()[-5:]
    assert strategy.state not in (HedgeState.HEDGING, HedgeState.HEDGING_CLOSE,
                                  HedgeState.REPAIRING)  # fmt: skip
    assert abs(venue.net) <= tolerance
    assert strategy.net_exposure() == venue.net
    assert strategy.pair_pnl(venue.market.mid) == venue_pnl(venue)


@PROPERTY
@given(scenarios())
def test_every_fill_of_a_is_matched_by_b_up_to_what_the_exchange_cannot_trade(
    scenario: tuple[Venue, list[tuple[str, int]], bool],
) -> None:
    venue, steps, to_the_end = scenario
    run(venue, steps, to_the_end)
    # Without hand trades, B's position mirrors A's to within the tolerance, and every market
    # order and maker order the bot sent was well formed.
    for intent in venue.intents:
        if isinstance(intent, MarketOrder):
            assert intent.size_base > 0 and intent.size_base % LOT == 0
        elif isinstance(intent, Place):
            assert intent.order.size_base <= venue.strategy.config.size_base
            assert intent.order.side in (Side.BUY, Side.SELL)
    tolerance = venue.strategy.config.imbalance_tolerance_base
    assert abs(venue.positions[A] + venue.positions[B]) <= tolerance
