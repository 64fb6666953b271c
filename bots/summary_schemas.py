"""The shapes of the read models computed from many rows: a bot's PnL, an account's summary.

Unlike the row schemas of `bots.schemas` (one model row each), these serialise the frozen
dataclasses of `bots.selectors.bot_pnl` and `bots.account_summaries`. The REST API returns them
and the dashboard's snapshots and pushes carry them (`bots.schemas.payload`), in one shape.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import AliasPath, PlainSerializer

from bots.schemas import AccountOut, Money, Quote


def _percent_text(fraction: Decimal) -> str:
    return format((fraction * 100).quantize(Decimal("0.0001")).normalize(), "f")


# A ratio given as a fraction (0.0123), sent as a percent with 4 decimals ("1.23").
Percent = Annotated[Decimal, PlainSerializer(_percent_text, return_type=str)]


def _days_text(days: Decimal) -> str:
    return format(days.quantize(Decimal("0.0001")).normalize(), "f")


Days = Annotated[Decimal, PlainSerializer(_days_text, return_type=str)]


class ReturnsOut(Schema):
    """Returns of a grid bot or of an account (README "Returns", bots.strategies.returns).

    Amounts in quote (USDC). `capital = capital_orders + capital_position`: the initial margin
    of the resting orders and of the position at the bot's leverage. `roi_percent = total /
    capital x 100` and `apr_percent = roi_percent x 365 / days` (simple), null while no capital
    is in use; APR and profit per day are null until a day has passed. `days`: since the
    first fill (or start). Round trips: count, average grid profit (gross of fees), grid profit
    per day. `max_drawdown`: the
    largest fall of total PnL from an earlier peak over the stored snapshots, >= 0.
    """

    capital: Quote
    capital_orders: Quote
    capital_position: Quote
    total: Quote
    realized: Quote
    grid_profit: Quote
    other_realized: Quote
    unrealized: Quote
    fees: Quote
    funding: Quote
    roi_percent: Percent | None = Field(validation_alias="roi")
    apr_percent: Percent | None = Field(validation_alias="apr")
    days: Days
    round_trips: int
    round_trip_avg_profit: Quote | None
    round_trip_profit_per_day: Quote | None
    max_drawdown: Quote


class PnlOut(Schema):
    """A bot's books (bots.strategies.accounting) at `mark_price`; amounts in quote.

    `total = realized + unrealized - fees + funding`; `realized = grid_profit + other_realized`.
    Without a known price (`mark_price` null) unrealized PnL is reported as zero.
    """

    # Read from a `bots.selectors.BotPnl`: the ledger's figures come from its `summary`, listed
    # flat beside the bot's; the price is the bot's own (null when unknown), not the valuation's.
    bot_id: int
    symbol: str
    mark_price: Money | None
    position_base: Money = Field(validation_alias=AliasPath("summary", "position_base"))
    avg_entry_price: Quote | None = Field(validation_alias=AliasPath("summary", "avg_entry_price"))
    realized: Quote = Field(validation_alias=AliasPath("summary", "realized"))
    grid_profit: Quote = Field(validation_alias=AliasPath("summary", "grid_profit"))
    other_realized: Quote = Field(validation_alias=AliasPath("summary", "other_realized"))
    unrealized: Quote = Field(validation_alias=AliasPath("summary", "unrealized"))
    fees: Quote = Field(validation_alias=AliasPath("summary", "fees"))
    funding: Quote = Field(validation_alias=AliasPath("summary", "funding"))
    total: Quote = Field(validation_alias=AliasPath("summary", "total"))
    round_trips: int = Field(validation_alias=AliasPath("summary", "round_trips"))
    fill_count: int = Field(validation_alias=AliasPath("summary", "fill_count"))
    # Not the bot's: what no bot owns on its account and market (README "How positions are
    # owned"); `position_base` above is the bot's own, the one its caps count.
    unattributed_base: Money | None = None
    # Capital, ROI, APR, round trips, drawdown: on `GET /api/bots/{id}/pnl` and the bot page;
    # null in the runner's frequent price pushes (the page keeps the last one it got).
    returns: ReturnsOut | None = None


class PositionOut(Schema):
    """One open position of an account as last reported by the exchange."""

    symbol: str
    side: str
    size_base: Money
    avg_entry_price: Quote | None = None
    unrealized_pnl: Quote | None = None


class BotPositionOut(Schema):
    """One bot's own position on a market: the sum of its fills and adoptions."""

    bot_id: int
    name: str
    position_base: Money


class MarketOwnershipOut(Schema):
    """Who owns the account's position on one market (README "How positions are owned"):
    `exchange_base = sum(bots' position_base) + unattributed`; both null while the account's
    positions were never read from the exchange."""

    market_id: int
    symbol: str
    exchange_base: Money | None
    bots: list[BotPositionOut]
    unattributed: Money | None

    @staticmethod
    def resolve_bots(obj: Any) -> list[dict[str, Any]]:
        return [{"bot_id": pk, "name": name, "position_base": p} for pk, name, p in obj.bots]


class BudgetUsageOut(Schema):
    """Requests (standard tier) or weight (premium) spent in the L1 address's rolling window."""

    used: int
    limit: int
    window_s: float


class AccountSummaryOut(Schema):
    """An account with its balances, positions and request budget, for the overview."""

    account: AccountOut
    equity: Quote | None
    available_balance: Quote | None
    collateral: Quote | None
    positions: list[PositionOut]
    open_orders: int
    bots: int
    bots_running: int
    budget: BudgetUsageOut | None
    balances_at: datetime | None
    ownership: list[MarketOwnershipOut]
    # The account's grid bots' returns summed (README "Returns").
    returns: ReturnsOut | None = None
