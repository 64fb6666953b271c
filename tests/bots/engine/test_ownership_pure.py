"""A bot's position is the sum of its own fills (design.md "Ownership"), never the account's."""

from __future__ import annotations

from decimal import Decimal

from bots.engine import intake
from bots.engine.working import WorkingOrders
from bots.strategies.accounting import Ledger
from bots.strategies.grid import GridConfig, Side, SizeMode, Spacing
from bots.strategies.grid.plan import LiveOrder
from bots.strategies.grid.strategy import GridStrategy
from bots.strategies.protocol import Leg
from exchange.stream_events import FillEvent, PositionUpdate
from exchange.types import (
    FillInfo,
    LiquidityRole,
    MarginMode,
    OrderSide,
    PositionInfo,
    PositionSide,
)

LEG = Leg(1, 1)
D = Decimal


def _config() -> GridConfig:
    return GridConfig(
        spacing=Spacing.ARITHMETIC,
        size_mode=SizeMode.BASE,
        step=D("5"),
        levels_per_side=3,
        size=D("0.01"),
        tick_size=D("0.01"),
        lot_size=D("0.0001"),
    )


def _position(size: str, side: PositionSide) -> PositionInfo:
    z = D(0)
    return PositionInfo(0, "ETH", side, D(size), D("3000"), z, z, z, MarginMode.CROSS, D(5))


def _fill(trade_id: int, client_index: int, size: str) -> FillInfo:
    return FillInfo(trade_id, 0, 100, 9, client_index, OrderSide.BUY, LiquidityRole.MAKER,
                    D("2995"), D(size), D("29.95"), 0, 1_000 + trade_id)  # fmt: skip


def test_a_position_report_then_our_fill_in_one_burst_counts_the_fill_once() -> None:
    orders = WorkingOrders()
    orders.live[7] = LiveOrder(-1, Side.BUY, D("2995"), D("0.01"), 7, "open")
    strategy, ledger = GridStrategy(LEG, _config()), Ledger()
    # The exchange reports the account's position (already including the fill), then the fill.
    events = [
        PositionUpdate(100, (_position("0.01", PositionSide.LONG),), False),
        FillEvent(100, (_fill(1, 7, "0.01"),), False),
    ]
    burst = intake.take_in(events, LEG, 0, orders, ledger)
    for event in burst.events:
        strategy.on_event(event)

    assert strategy.position_base == ledger.position_base == D("0.01")


def test_the_accounts_position_is_not_the_bots() -> None:
    # A position left on the market by someone else (another bot, a manual trade) is not this
    # bot's: its caps and PnL count only its own fills.
    strategy, ledger = GridStrategy(LEG, _config()), Ledger()
    burst = intake.take_in(
        [PositionUpdate(100, (_position("0.2", PositionSide.SHORT),), False)],
        LEG, 0, WorkingOrders(), ledger,
    )  # fmt: skip
    for event in burst.events:
        strategy.on_event(event)

    assert strategy.position_base == 0
