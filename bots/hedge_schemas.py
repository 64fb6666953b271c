"""The REST shapes of hedge bots (the same style as bots.schemas' grid bots).

Money, sizes, bps and leverage are `Decimal` in and decimal strings out; durations are integer
milliseconds. Ids are our database ids.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Field, Schema

from bots.schemas import (
    BotOutBase,
    Count,
    Id,
    InputSchema,
    MarginMode,
    Money,
    Name,
    SizeMode,
)

Direction = Literal["long", "short"]
PriceMode = Literal["level", "offset_bps"]
# PositiveSmallIntegerField: bigger input is a 422, not a database overflow.
SmallCount = Annotated[int, Field(ge=0, le=32767)]


class HedgeBotIn(InputSchema):
    """A new hedge bot; validated like the admin form (model `full_clean`)."""

    name: Name
    account_id: Id = Field(description="Maker account A: rests post-only orders.")
    taker_account_id: Id = Field(description="Taker account B: hedges with market orders.")
    market_id: Id = Field(description="Our market id (MarketOut.id), not the exchange's.")
    direction: Direction = "long"
    size_mode: SizeMode = "base"
    size: Decimal = Field(description="Per cycle: base quantity or quote notional.")
    price_mode: PriceMode = "level"
    book_level: SmallCount = 1
    offset_bps: Decimal = Decimal("0")
    order_timeout_ms: Count = 30_000
    hold_min_ms: Count = 60_000
    hold_max_ms: Count | None = None
    cycles: Count | None = None
    cooldown_min_ms: Count = 0
    cooldown_max_ms: Count | None = None
    max_slippage_bps: Decimal = Decimal("50")
    imbalance_tolerance_base: Decimal | None = None
    hedge_max_attempts: SmallCount = 5
    hedge_timeout_ms: Count = 10_000
    repair_attempts: SmallCount = 3
    stop_loss_quote: Decimal | None = None
    leverage_a: Decimal = Decimal("1")
    margin_mode_a: MarginMode = "cross"
    leverage_b: Decimal = Decimal("1")
    margin_mode_b: MarginMode = "cross"


class HedgeBotPatch(InputSchema):
    """A partial update of a stopped hedge bot's configuration: only the fields sent change."""

    name: Name | None = None
    direction: Direction | None = None
    size_mode: SizeMode | None = None
    size: Decimal | None = None
    price_mode: PriceMode | None = None
    book_level: SmallCount | None = None
    offset_bps: Decimal | None = None
    order_timeout_ms: Count | None = None
    hold_min_ms: Count | None = None
    hold_max_ms: Count | None = None
    cycles: Count | None = None
    cooldown_min_ms: Count | None = None
    cooldown_max_ms: Count | None = None
    max_slippage_bps: Decimal | None = None
    imbalance_tolerance_base: Decimal | None = None
    hedge_max_attempts: SmallCount | None = None
    hedge_timeout_ms: Count | None = None
    repair_attempts: SmallCount | None = None
    stop_loss_quote: Decimal | None = None
    leverage_a: Decimal | None = None
    margin_mode_a: MarginMode | None = None
    leverage_b: Decimal | None = None
    margin_mode_b: MarginMode | None = None


class HedgeBotOut(BotOutBase):
    """A hedge bot: both legs, its configuration, what the operator wants, what the engine
    reports (`hedge_state`: the state machine's state from the last snapshot, if any)."""

    taker_account_id: int
    taker_account_name: str
    direction: str
    size_mode: str
    size: Money
    price_mode: str
    book_level: int
    offset_bps: Money
    order_timeout_ms: int
    hold_min_ms: int
    hold_max_ms: int | None
    cycles: int | None
    cooldown_min_ms: int
    cooldown_max_ms: int | None
    max_slippage_bps: Money
    imbalance_tolerance_base: Money | None
    hedge_max_attempts: int
    hedge_timeout_ms: int
    repair_attempts: int
    stop_loss_quote: Money | None
    leverage_a: Money
    margin_mode_a: str
    leverage_b: Money
    margin_mode_b: str
    hedge_state: str | None = None

    @staticmethod
    def resolve_taker_account_name(obj: Any) -> str:
        return str(obj.taker_account.name)

    @staticmethod
    def resolve_hedge_state(obj: Any) -> str | None:
        state = (obj.strategy_snapshot or {}).get("state")
        return None if state is None else str(state)


class HedgeControlOut(Schema):
    """The outcome of a control action on a hedge bot."""

    detail: str
    bots: list[HedgeBotOut]


class HedgeStopIn(InputSchema):
    """Optional body of a hedge bot's stop. Without it (or with `close_positions` false) the
    stop cancels A's orders and keeps both positions."""

    close_positions: bool = Field(
        default=False,
        description="true: also close both legs with verified reduce-only market orders "
        "(worst price from the bot's max slippage). It trades at market: sending true is "
        "the confirmation.",
    )
