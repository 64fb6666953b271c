"""Typed, immutable views of Lighter data: what the rest of LighterWeb sees of the exchange.

Every amount is a `Decimal` parsed from Lighter's decimal strings; no SDK object or raw tuple
leaves the exchange package. Timestamps keep Lighter's unit in their name (`_ms`, `_s`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class OrderSide(StrEnum):
    """Side of an order or a fill, from the account's point of view."""

    BUY = "buy"
    SELL = "sell"


class PositionSide(StrEnum):
    """Direction of a position; a position of size zero is flat."""

    LONG = "long"
    SHORT = "short"
    FLAT = "flat"


class MarginMode(StrEnum):
    """Margin mode of one market for one account."""

    CROSS = "cross"
    ISOLATED = "isolated"


class LiquidityRole(StrEnum):
    """Whether the account's order rested (maker) or crossed (taker) in a fill."""

    MAKER = "maker"
    TAKER = "taker"


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """Trading rules of one market: decimals, minimums and leverage bound."""

    market_id: int
    symbol: str
    size_decimals: int
    price_decimals: int
    min_base_amount: Decimal
    min_quote_amount: Decimal
    max_leverage: Decimal
    last_trade_price: Decimal | None = None
    market_type: str = "perp"
    status: str = "active"
    maker_fee_pct: Decimal = Decimal(0)
    taker_fee_pct: Decimal = Decimal(0)

    @property
    def tick_size(self) -> Decimal:
        """Smallest price increment."""
        return Decimal(1).scaleb(-self.price_decimals)

    @property
    def lot_size(self) -> Decimal:
        """Smallest size increment."""
        return Decimal(1).scaleb(-self.size_decimals)


@dataclass(frozen=True, slots=True)
class PositionInfo:
    """One market's position of an account (size is absolute; `side` carries the sign)."""

    market_id: int
    symbol: str
    side: PositionSide
    size: Decimal
    avg_entry_price: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    liquidation_price: Decimal
    margin_mode: MarginMode
    leverage: Decimal
    position_value: Decimal = Decimal(0)
    allocated_margin: Decimal = Decimal(0)
    open_order_count: int = 0

    @property
    def signed_size(self) -> Decimal:
        """Size with sign: positive long, negative short."""
        return -self.size if self.side is PositionSide.SHORT else self.size


@dataclass(frozen=True, slots=True)
class AccountAsset:
    """One asset balance of an account (USDC collateral, spot assets)."""

    asset_id: int
    symbol: str
    balance: Decimal
    locked_balance: Decimal
    margin_balance: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """Balances and positions of one account."""

    account_index: int
    l1_address: str
    collateral: Decimal
    available_balance: Decimal
    equity: Decimal
    positions: tuple[PositionInfo, ...]
    cancel_all_time_ms: int = 0
    assets: tuple[AccountAsset, ...] = ()

    def position(self, market_id: int) -> PositionInfo | None:
        """The position in `market_id`, or None when the account never traded it."""
        for position in self.positions:
            if position.market_id == market_id:
                return position
        return None


@dataclass(frozen=True, slots=True)
class SubAccount:
    """An account owned by an L1 address (as listed by accountsByL1Address)."""

    account_index: int
    l1_address: str
    account_type: int
    collateral: Decimal
    available_balance: Decimal


@dataclass(frozen=True, slots=True)
class OrderInfo:
    """An order as Lighter reports it (REST or stream)."""

    order_index: int
    client_order_index: int
    market_id: int
    side: OrderSide
    order_type: str
    time_in_force: str
    price: Decimal
    initial_size: Decimal
    remaining_size: Decimal
    filled_size: Decimal
    filled_quote: Decimal
    status: str
    reduce_only: bool
    trigger_price: Decimal
    owner_account_index: int
    timestamp_ms: int = 0
    updated_at_ms: int = 0
    order_expiry_ms: int = 0
    symbol: str | None = None

    @property
    def is_active(self) -> bool:
        """True while the order can still trade (open, pending trigger or in progress)."""
        return self.status in {"open", "pending", "in-progress"}

    @property
    def fill_ratio(self) -> Decimal:
        """Filled share of the initial size, 0..1."""
        if self.initial_size == 0:
            return Decimal(0)
        return self.filled_size / self.initial_size

    @property
    def average_fill_price(self) -> Decimal | None:
        """Volume-weighted fill price, None before any fill."""
        if self.filled_size == 0:
            return None
        return self.filled_quote / self.filled_size


@dataclass(frozen=True, slots=True)
class Trade:
    """A public trade (both sides)."""

    trade_id: int
    market_id: int
    price: Decimal
    size: Decimal
    usd_amount: Decimal
    ask_order_index: int
    bid_order_index: int
    ask_client_order_index: int
    bid_client_order_index: int
    ask_account_index: int
    bid_account_index: int
    is_maker_ask: bool
    timestamp_ms: int
    trade_type: str = "trade"
    tx_hash: str = ""
    taker_fee_rate_e6: int = 0
    maker_fee_rate_e6: int = 0

    @property
    def taker_side(self) -> OrderSide:
        """Side of the aggressor (a maker ask means the taker bought)."""
        return OrderSide.BUY if self.is_maker_ask else OrderSide.SELL


@dataclass(frozen=True, slots=True)
class FillInfo:
    """A trade seen from one account: which of its orders traded, on which side and role."""

    trade_id: int
    market_id: int
    account_index: int
    order_index: int
    client_order_index: int
    side: OrderSide
    role: LiquidityRole
    price: Decimal
    size: Decimal
    quote: Decimal
    fee_rate_e6: int
    timestamp_ms: int
    trade_type: str = "trade"


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """A funding payment on one position (positive change = received)."""

    timestamp_s: int
    market_id: int
    funding_id: int
    change: Decimal
    rate: Decimal
    position_size: Decimal
    position_side: str


@dataclass(frozen=True, slots=True)
class FundingRate:
    """A realised funding rate of one market and period (from /fundings)."""

    timestamp_s: int
    value: Decimal
    rate: Decimal
    direction: str


@dataclass(frozen=True, slots=True)
class VenueFundingRate:
    """An 8h-equivalent funding rate of a symbol on one venue (from /funding-rates)."""

    market_id: int
    exchange: str
    symbol: str
    rate: Decimal


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bucket; `timestamp_ms` is the bucket start."""

    timestamp_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume_base: Decimal
    volume_quote: Decimal
    last_trade_id: int = 0


@dataclass(frozen=True, slots=True)
class BookLevel:
    """One price level (size 0 in a delta means the level is gone)."""

    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class BookTop:
    """Best bid and ask of a market; either side may be missing on an empty book."""

    market_id: int
    bid: Decimal | None
    ask: Decimal | None
    bid_size: Decimal = Decimal(0)
    ask_size: Decimal = Decimal(0)
    timestamp_ms: int = 0

    @property
    def mid(self) -> Decimal | None:
        """Mid price, None unless both sides are present."""
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class OrderBook:
    """Levels of a book (best first); as a websocket delta, only the changed levels."""

    market_id: int
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    nonce: int = 0
    begin_nonce: int = 0
    offset: int = 0
    timestamp_ms: int = 0

    def top(self) -> BookTop:
        """Best bid/ask of these levels."""
        bid = self.bids[0] if self.bids else None
        ask = self.asks[0] if self.asks else None
        return BookTop(
            market_id=self.market_id,
            bid=bid.price if bid else None,
            ask=ask.price if ask else None,
            bid_size=bid.size if bid else Decimal(0),
            ask_size=ask.size if ask else Decimal(0),
            timestamp_ms=self.timestamp_ms,
        )


@dataclass(frozen=True, slots=True)
class MarketStats:
    """Live statistics of a market (prices, funding)."""

    market_id: int
    symbol: str
    last_trade_price: Decimal | None
    mark_price: Decimal | None = None
    index_price: Decimal | None = None
    mid_price: Decimal | None = None
    funding_rate: Decimal | None = None
    current_funding_rate: Decimal | None = None
    funding_timestamp_ms: int = 0


@dataclass(frozen=True, slots=True)
class UserStats:
    """Account-level figures pushed by the user_stats channel."""

    collateral: Decimal
    portfolio_value: Decimal
    available_balance: Decimal
    leverage: Decimal
    margin_usage: Decimal


@dataclass(frozen=True, slots=True)
class TxResult:
    """Outcome of one transaction by hash (status 0 failed, 1 pending, 2 executed, 3 final)."""

    tx_hash: str
    status: int
    tx_type: int
    error: str = ""

    @property
    def failed(self) -> bool:
        """True when the sequencer rejected the transaction."""
        return self.status == 0


@dataclass(frozen=True, slots=True)
class SendResult:
    """Reply to sendTx / sendTxBatch: accepted, not executed."""

    tx_hashes: tuple[str, ...]
    predicted_execution_time_ms: int = 0


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a cursor-paged list; `next_cursor` is None on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """A registered API key of an account."""

    account_index: int
    api_key_index: int
    public_key: str
    nonce: int = field(default=0)
