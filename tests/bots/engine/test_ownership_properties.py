"""Hypothesis: over any interleaving of our fills, position reports, replays after reconnects,
manual trades and the operator's adoptions, on the real pure parts (`bots.engine.intake`, the
ledger, the grid strategy, `bots.strategies.ownership`):

- the exchange's position = sum of the bots' own positions + the unattributed remainder;
- each bot's grid counts its own position exactly once (never the account's, never a fill twice);
- the reconcile check flags the remainder moving iff something other than our fills moved it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bots.engine import intake
from bots.engine.working import WorkingOrders
from bots.strategies.accounting import Ledger, Transfer
from bots.strategies.grid import GridConfig, Side, SizeMode, Spacing
from bots.strategies.grid.plan import LiveOrder
from bots.strategies.grid.strategy import GridStrategy
from bots.strategies.ownership import RemainderWatch, market_ownership
from bots.strategies.protocol import Leg, OwnPosition
from exchange.stream_events import FillEvent, PositionUpdate
from exchange.types import (
    FillInfo,
    LiquidityRole,
    MarginMode,
    OrderSide,
    PositionInfo,
    PositionSide,
)

PROPERTY = settings(deadline=None, max_examples=150)
ACCOUNT, MARKET = 100, 0
LOT = Decimal("0.001")
CONFIG = GridConfig(
    spacing=Spacing.ARITHMETIC,
    size_mode=SizeMode.BASE,
    step=Decimal("5"),
    levels_per_side=3,
    size=Decimal("0.01"),
    tick_size=Decimal("0.01"),
    lot_size=LOT,
)


@dataclass
class BotModel:
    """One bot as its runner holds it: working orders, ledger, strategy."""

    pk: int
    strategy: GridStrategy
    ledger: Ledger = field(default_factory=Ledger)
    orders: WorkingOrders = field(default_factory=WorkingOrders)

    def take_in(self, events: list[object]) -> None:
        leg = self.strategy.leg
        burst = intake.take_in(events, leg, MARKET, self.orders, self.ledger)  # type: ignore[arg-type]
        for event in burst.events:
            self.strategy.on_event(event)


def _position_report(size: Decimal) -> PositionUpdate:
    side = PositionSide.LONG if size > 0 else PositionSide.SHORT
    zero = Decimal(0)
    info = PositionInfo(
        MARKET, "ETH", side, abs(size), Decimal(3000), zero, zero, zero, MarginMode.CROSS, zero
    )
    return PositionUpdate(ACCOUNT, (info,), False)


steps = st.lists(
    st.one_of(
        st.tuples(st.just("fill"), st.integers(0, 1), st.booleans(), st.integers(1, 30)),
        st.tuples(st.just("report"), st.just(0), st.just(False), st.just(0)),
        st.tuples(st.just("replay"), st.integers(0, 1), st.just(False), st.just(0)),
        st.tuples(st.just("manual"), st.just(0), st.booleans(), st.integers(1, 30)),
        st.tuples(st.just("adopt"), st.integers(0, 1), st.just(False), st.just(0)),
        st.tuples(st.just("reconcile"), st.just(0), st.just(False), st.just(0)),
    ),
    max_size=40,
)


@PROPERTY
@given(steps)
def test_exchange_position_is_the_bots_plus_unattributed_under_any_interleaving(script) -> None:
    bots = [BotModel(pk, GridStrategy(Leg(1, 1), CONFIG)) for pk in (1, 2)]
    for model in bots:
        # Each bot has one working order per client index range of its own (ours: 1000s, 2000s).
        for index in range(model.pk * 1000, model.pk * 1000 + 40):
            model.orders.live[index] = LiveOrder(
                0, Side.BUY, Decimal(3000), LOT * 30, index, "open"
            )
    venue = Decimal(0)  # the exchange's position of the account on the market
    foreign = Decimal(0)  # what moved it other than our fills, and not adopted
    history: dict[int, list[FillInfo]] = {1: [], 2: []}
    watch = RemainderWatch("ETH")
    watch.accept(venue, [Decimal(0), Decimal(0)])  # the runner's startup baseline
    # The remainder the watch last took as its baseline: a reconcile flags only a change of it
    # (two manual trades that cancel out move nothing it can see).
    accepted = Decimal(0)
    next_trade, next_index, next_transfer = 1, {1: 1000, 2: 2000}, 1
    for kind, who, buy, lots in script:
        model = bots[who]
        if kind == "fill":
            size = LOT * lots
            info = FillInfo(
                next_trade, MARKET, ACCOUNT, 1, next_index[model.pk],
                OrderSide.BUY if buy else OrderSide.SELL, LiquidityRole.MAKER,
                Decimal(3000), size, size * 3000, 0, next_trade,
            )  # fmt: skip
            next_trade += 1
            next_index[model.pk] += 1
            venue += size if buy else -size
            history[model.pk].append(info)
            # The stream often reports the new position before the fill itself.
            model.take_in([_position_report(venue), FillEvent(ACCOUNT, (info,), False)])
        elif kind == "report":
            for each in bots:
                each.take_in([_position_report(venue)])
        elif kind == "replay":
            # A reconnect's snapshot repeats every fill already booked.
            model.take_in([FillEvent(ACCOUNT, tuple(history[model.pk]), True)])
        elif kind == "manual":
            size = LOT * lots
            venue += size if buy else -size
            foreign += size if buy else -size
        elif kind == "adopt" and foreign != 0:
            # The operator's adopt: the remainder becomes the bot's own (a new baseline).
            model.ledger.apply_transfer(Transfer(next_transfer, foreign, Decimal(3000)))
            model.strategy.on_event(OwnPosition(model.strategy.leg, model.ledger.position_base))
            next_transfer += 1
            foreign = Decimal(0)
            watch.accept(venue, [b.ledger.position_base for b in bots])
            accepted = Decimal(0)
        elif kind == "reconcile":
            positions = [b.ledger.position_base for b in bots]
            first = watch.observe(venue, positions)
            second = watch.observe(venue, positions)  # the recheck a moment later
            assert first is None
            assert (second is not None) == (foreign != accepted)
            if second is not None:
                watch.accept(venue, positions)  # the operator looked (restart with a choice)
                accepted = foreign

        split = market_ownership(venue, {b.pk: b.ledger.position_base for b in bots})
        assert split.balanced
        assert split.unattributed == foreign
        for each in bots:
            own = sum(
                (f.size if f.side is OrderSide.BUY else -f.size for f in history[each.pk]),
                Decimal(0),
            )
            transfers = each.ledger.position_base - own
            assert each.strategy.position_base == each.ledger.position_base == own + transfers
