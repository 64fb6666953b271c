"""Data types of the simulated exchange (pure; no I/O).

Integers are ticks (prices) and lots (sizes) of the market; `Decimal` is USDC. Orders, positions,
accounts, trades and events are slotted dataclasses (not frozen: frozen ones are several times
slower to build, and matching builds one trade and several events per fill); readers must treat
them as read-only. OrderChanged events carry snapshots, so a consumer sees the order as it was
at the time of the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from exchange.simulator.constants import LIVE_STATUSES, SELF_TRADE_EXPIRE_MAKER
from exchange.units import MarketUnits


class SimError(Exception):
    """An API-level rejection: HTTP `http_status` with body {"code": code, "message": message}."""

    def __init__(self, code: int, message: str, http_status: int = 400) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.http_status = http_status


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """Static rules of one perp market (lighter-api.md §8.1). Fractions are in 1/10_000."""

    market_id: int
    symbol: str
    size_decimals: int
    price_decimals: int
    min_base_amount: int
    min_quote_amount: Decimal
    initial_price: Decimal
    quote_decimals: int = 6
    default_imf: int = 500
    min_imf: int = 200
    maintenance_mf: int = 120
    closeout_mf: int = 80
    maker_fee_ppm: dict[str, int] = field(default_factory=lambda: {"standard": 0, "premium": 40})
    taker_fee_ppm: dict[str, int] = field(default_factory=lambda: {"standard": 0, "premium": 280})
    order_quote_limit: Decimal = Decimal("281474976.710655")
    units: MarketUnits = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Cached because matching converts lots*ticks to USDC on every fill.
        units = MarketUnits(self.size_decimals, self.price_decimals, self.quote_decimals)
        object.__setattr__(self, "units", units)


@dataclass(slots=True)
class Order:
    """One order as Lighter reports it (lighter-api.md §4.4), with integer price and sizes."""

    order_index: int
    client_order_index: int
    market_id: int
    owner_account_index: int
    is_ask: bool
    type: str
    time_in_force: str
    reduce_only: bool
    price: int
    trigger_price: int
    initial_base_amount: int
    remaining_base_amount: int
    filled_base_amount: int = 0
    filled_quote_amount: Decimal = Decimal(0)
    status: str = "in-progress"
    trigger_status: str = "na"
    trigger_time: int = 0
    order_expiry: int = 0
    nonce: int = 0
    parent_order_index: int = 0
    to_trigger_order_id_0: int = 0
    to_trigger_order_id_1: int = 0
    to_cancel_order_id_0: int = 0
    order_version: int = 0
    created_at: int = 0
    updated_at: int = 0
    transaction_time: int = 0
    block_height: int = 0
    # Engine bookkeeping (not part of Lighter's payload).
    self_trade_mode: int = SELF_TRADE_EXPIRE_MAKER
    position_tied: bool = False
    seq: int = 0

    def snapshot(self) -> Order:
        """A shallow copy (all fields are immutable values), faster than copy.copy."""
        return Order(
            self.order_index,
            self.client_order_index,
            self.market_id,
            self.owner_account_index,
            self.is_ask,
            self.type,
            self.time_in_force,
            self.reduce_only,
            self.price,
            self.trigger_price,
            self.initial_base_amount,
            self.remaining_base_amount,
            self.filled_base_amount,
            self.filled_quote_amount,
            self.status,
            self.trigger_status,
            self.trigger_time,
            self.order_expiry,
            self.nonce,
            self.parent_order_index,
            self.to_trigger_order_id_0,
            self.to_trigger_order_id_1,
            self.to_cancel_order_id_0,
            self.order_version,
            self.created_at,
            self.updated_at,
            self.transaction_time,
            self.block_height,
            self.self_trade_mode,
            self.position_tied,
            self.seq,
        )

    @property
    def is_live(self) -> bool:
        """True while the order can still trade or trigger."""
        return self.status in LIVE_STATUSES

    @property
    def side(self) -> str:
        """Lighter's `side` string."""
        return "sell" if self.is_ask else "buy"


@dataclass(slots=True)
class Trade:
    """One fill between a maker and a taker (lighter-api.md §2.3 Trade)."""

    trade_id: int
    tx_hash: str
    type: str
    market_id: int
    size: int
    price: int
    usd_amount: Decimal
    ask_id: int
    bid_id: int
    ask_client_id: int
    bid_client_id: int
    ask_account_id: int
    bid_account_id: int
    is_maker_ask: bool
    block_height: int
    timestamp: int
    taker_fee_ppm: int
    maker_fee_ppm: int
    taker_fee: Decimal
    maker_fee: Decimal
    taker_position_size_before: int
    taker_entry_quote_before: Decimal
    taker_initial_margin_fraction_before: int
    taker_position_sign_changed: bool
    maker_position_size_before: int
    maker_entry_quote_before: Decimal
    maker_initial_margin_fraction_before: int
    maker_position_sign_changed: bool
    transaction_time: int
    bid_account_pnl: Decimal = Decimal(0)
    ask_account_pnl: Decimal = Decimal(0)
    bid_order_version: int = 0
    ask_order_version: int = 0


@dataclass(slots=True)
class Position:
    """An account's position in one market. `size` is the absolute size in lots; `sign` 1/-1/0.

    `entry_quote` is the absolute USDC cost of the open size; `avg_entry_price` derives from it.
    """

    market_id: int
    sign: int = 0
    size: int = 0
    entry_quote: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    allocated_margin: Decimal = Decimal(0)
    margin_mode: int = 0
    initial_margin_fraction: int = 500
    total_funding_paid_out: Decimal = Decimal(0)
    total_fees_paid: Decimal = Decimal(0)

    @property
    def signed_size(self) -> int:
        """Size with sign: positive long, negative short."""
        return self.sign * self.size

    def avg_entry_price(self, units: MarketUnits) -> Decimal:
        """Average entry price (exact Decimal; callers quantise for display)."""
        if self.size == 0:
            return Decimal(0)
        return self.entry_quote / units.size(self.size)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A registered API key: the public key hex has no 0x prefix."""

    account_index: int
    api_key_index: int
    public_key_hex: str


@dataclass(slots=True)
class Account:
    """A trading account: USDC collateral, positions per market, API keys and nonces."""

    index: int
    l1_address: str
    collateral: Decimal
    tier: str = "standard"
    positions: dict[int, Position] = field(default_factory=dict)
    api_keys: dict[int, ApiKey] = field(default_factory=dict)
    nonces: dict[int, int] = field(default_factory=dict)
    cancel_all_time: int = 0
    leverage: dict[int, int] = field(default_factory=dict)
    margin_modes: dict[int, int] = field(default_factory=dict)
    created_at: int = 0
    total_order_count: int = 0
    is_system: bool = False

    def __repr__(self) -> str:
        return (
            f"Account(index={self.index}, l1_address={self.l1_address!r}, "
            f"collateral={self.collateral}, tier={self.tier!r})"
        )


@dataclass(slots=True)
class TxRecord:
    """A transaction as /api/v1/tx reports it. `event_info` carries "ae" (error) on failure."""

    hash: str
    type: int
    info: str
    event_info: str
    status: int
    account_index: int
    api_key_index: int
    nonce: int
    expire_at: int
    block_height: int
    queued_at: int
    executed_at: int
    sequence_index: int
    transaction_time: int
    l1_address: str = ""
    transaction_index: int = 0
    parent_hash: str = ""
    execute_at: int = 0


@dataclass(frozen=True, slots=True)
class FundingRecord:
    """Realised hourly funding of a market (lighter-api.md §2.3 Fundings)."""

    market_id: int
    timestamp_s: int
    rate: Decimal
    value: Decimal
    direction: str


@dataclass(frozen=True, slots=True)
class PositionFunding:
    """One account's funding payment; `change` > 0 means the account received funding."""

    account_index: int
    market_id: int
    funding_id: int
    timestamp_s: int
    change: Decimal
    rate: Decimal
    position_size: int
    position_side: str


@dataclass(frozen=True, slots=True)
class Candle:
    """OHLCV bucket built from trades; prices in ticks, volumes exact."""

    t: int
    o: int
    h: int
    l: int  # noqa: E741 - Lighter's field name
    c: int
    v: Decimal
    quote_volume: Decimal
    last_trade_id: int


@dataclass(frozen=True, slots=True)
class MarketStats:
    """Rolling 24 h statistics of one market; prices in ticks."""

    market_id: int
    last_trade_price: int
    mark_price: int
    index_price: int
    daily_trades_count: int
    daily_base_volume: Decimal
    daily_quote_volume: Decimal
    daily_price_high: int
    daily_price_low: int
    daily_price_change_pct: Decimal
    open_interest: Decimal
    current_funding_rate: Decimal
    funding_timestamp: int


# Events returned by Engine.advance(), in execution order. Book changes are not events: the
# server diffs book levels.


@dataclass(slots=True)
class OrderChanged:
    """An order was created or changed; `order` is a snapshot."""

    account_index: int
    order: Order


@dataclass(slots=True)
class TradeExecuted:
    """A trade happened."""

    trade: Trade


@dataclass(slots=True)
class PositionChanged:
    """A position of the account changed (size, entry, margin or funding)."""

    account_index: int
    market_id: int


@dataclass(slots=True)
class BalanceChanged:
    """The account's collateral changed."""

    account_index: int


@dataclass(slots=True)
class TxExecuted:
    """A queued tx finished: status 2 executed, or 0 failed with the reason in event_info."""

    tx: TxRecord


@dataclass(slots=True)
class FundingApplied:
    """Hourly funding was applied to a market."""

    market_id: int
    record: FundingRecord


@dataclass(slots=True)
class PriceChanged:
    """The reference (index/mark) price of a market moved."""

    market_id: int
    price: int


Event = (
    OrderChanged
    | TradeExecuted
    | PositionChanged
    | BalanceChanged
    | TxExecuted
    | FundingApplied
    | PriceChanged
)
