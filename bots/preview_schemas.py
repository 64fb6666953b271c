"""Shapes of the grid preview (`POST /api/bots/preview`, the admin form's preview panel).

Every figure is a string already quantised to the market's decimals (prices to `price_decimals`,
sizes to `size_decimals`, quote money to cents, step profits to 1/10,000 of a quote unit), with
the units named once in `base_unit` / `quote_unit`.
"""

from __future__ import annotations

from decimal import Decimal

from ninja import Field, Schema

from bots.schemas import Count, Id, InputSchema, MarginMode, SizeMode, SpacingMode


class GridPreviewIn(InputSchema):
    """A grid configuration to preview (the fields of `GridBotIn`, no name needed)."""

    account_id: Id
    market_id: Id = Field(description="Our market id (MarketOut.id), not the exchange's.")
    bot_id: Id | None = Field(
        default=None, description="The bot being edited: its runner's last mid is the price."
    )
    price: Decimal | None = Field(
        default=None, description="Preview at this price instead of the known one."
    )
    spacing_mode: SpacingMode = "arithmetic"
    step: Decimal
    levels_per_side: Count = 5
    size_mode: SizeMode = "base"
    size: Decimal
    post_only: bool = True
    max_open_orders: Count = 20
    max_position_notional: Decimal
    leverage: Decimal = Decimal("1")
    margin_mode: MarginMode = "cross"
    stop_loss_price: Decimal | None = None
    take_profit_price: Decimal | None = None
    flatten_on_stop: bool = False


class PreviewLevelOut(Schema):
    """One order of the initial window and the profit of its round trip after fees."""

    level: int
    side: str
    price: str
    size_base: str
    notional_quote: str
    step_profit_quote: str


class CapBindOut(Schema):
    """Where the position cap stops a side when the price trends that way."""

    binds: bool
    orders: int = Field(description="Fills on this side, from flat, before the cap binds.")
    last_price: str | None
    position_base: str
    entry_price: str | None
    liquidation_price: str | None = Field(
        description="Estimate with the position's own margin at the leverage (isolated-style)."
    )


class GridPreviewOut(Schema):
    """What the grid will do at the reference price."""

    symbol: str
    base_unit: str
    quote_unit: str
    price_decimals: int
    size_decimals: int
    reference_price: str
    price_source: str = Field(description="request, bot (runner's book mid) or market (sync).")
    price_source_text: str
    centre_price: str
    levels: list[PreviewLevelOut]
    buy_notional_quote: str
    sell_notional_quote: str
    capital_quote: str
    leverage: str
    margin_quote: str
    fee_rate_percent: str
    fee_source: str
    step_profit_min_quote: str | None
    step_profit_min_percent: str | None
    long_cap: CapBindOut | None
    short_cap: CapBindOut | None
    warnings: list[str]
