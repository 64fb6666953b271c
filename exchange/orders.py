"""Order requests in Lighter's integer form, built from Decimal intent (pure, no I/O, no SDK).

Prices are quantised to the tick with the side's safe direction (buys down, sells up, via
`exchange.units`), sizes to the lot rounding down, and orders below the market's minimum base
or quote amount are refused here, before anything is signed, with the minimum in the message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import IntEnum, StrEnum

from exchange.errors import OrderRefusedError
from exchange.types import BookLevel, MarketInfo, OrderBook, OrderSide
from exchange.units import MarketUnits, UnitsError

MAX_CLIENT_ORDER_INDEX = 2**48 - 1
MAX_BATCH_SIZE = 50
# Lighter's "use the signer default" marker for an order's expiry: now + 28 days.
DEFAULT_EXPIRY = -1
DEFAULT_EXPIRY_PERIOD_MS = 28 * 86_400_000


class OrderType(IntEnum):
    """Lighter order type codes (tx field `Type`)."""

    LIMIT = 0
    MARKET = 1
    STOP_LOSS = 2
    STOP_LOSS_LIMIT = 3
    TAKE_PROFIT = 4
    TAKE_PROFIT_LIMIT = 5


class TimeInForce(IntEnum):
    """Lighter time-in-force codes (tx field `TimeInForce`)."""

    IOC = 0
    GTT = 1
    POST_ONLY = 2


class Grouping(IntEnum):
    """Grouped-order kinds of CreateGroupedOrders."""

    OTO = 1
    OCO = 2
    OTOCO = 3


class CancelAllMode(IntEnum):
    """CancelAllOrders time-in-force: now, at a time (dead-man's switch), or abort the timer."""

    IMMEDIATE = 0
    SCHEDULED = 1
    ABORT = 2


class MarginModeCode(IntEnum):
    """Margin mode codes of UpdateLeverage."""

    CROSS = 0
    ISOLATED = 1


class TxKind(StrEnum):
    """What a signed transaction does (for logs and batch bookkeeping)."""

    CREATE = "create"
    CANCEL = "cancel"
    MODIFY = "modify"
    CANCEL_ALL = "cancel_all"
    GROUP = "group"
    LEVERAGE = "leverage"


@dataclass(frozen=True, slots=True)
class OrderSpec:
    """One order, scaled to integers, ready to sign (CreateOrder fields)."""

    market_id: int
    client_order_index: int
    base_amount: int
    price: int
    is_ask: bool
    order_type: OrderType
    time_in_force: TimeInForce
    reduce_only: bool = False
    trigger_price: int = 0
    order_expiry_ms: int = DEFAULT_EXPIRY


@dataclass(frozen=True, slots=True)
class CancelSpec:
    """Cancel one order by exchange order index or client order index."""

    market_id: int
    index: int


@dataclass(frozen=True, slots=True)
class ModifySpec:
    """Change price/size (new total size) of a resting order."""

    market_id: int
    index: int
    base_amount: int
    price: int
    trigger_price: int = 0


@dataclass(frozen=True, slots=True)
class CancelAllSpec:
    """Cancel all orders now, schedule it (dead-man's switch), or abort the schedule."""

    mode: CancelAllMode
    time_ms: int = 0
    market_id: int = 255


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """OTO / OCO / OTOCO group of 2-3 orders on one market."""

    grouping: Grouping
    orders: tuple[OrderSpec, ...]


@dataclass(frozen=True, slots=True)
class LeverageSpec:
    """Set leverage (as an initial margin fraction in 1/10,000) and margin mode of a market."""

    market_id: int
    initial_margin_fraction: int
    margin_mode: MarginModeCode


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A signed transaction as the signer returns it."""

    tx_type: int
    tx_info: str
    tx_hash: str


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A limit order as a caller means it (Decimal), for single and batched placement."""

    side: OrderSide
    size: Decimal
    price: Decimal
    client_order_index: int
    post_only: bool = False
    ioc: bool = False
    reduce_only: bool = False


@dataclass(frozen=True, slots=True)
class TriggerRequest:
    """A take-profit or stop-loss leg of a grouped order (price = limit price once triggered)."""

    trigger_price: Decimal
    price: Decimal
    client_order_index: int


TxSpec = OrderSpec | CancelSpec | ModifySpec | CancelAllSpec | GroupSpec | LeverageSpec


def units_of(market: MarketInfo) -> MarketUnits:
    """The integer grid of `market`."""
    return MarketUnits(size_decimals=market.size_decimals, price_decimals=market.price_decimals)


def check_client_order_index(client_order_index: int) -> None:
    """Refuse a client order index Lighter cannot carry (1 .. 2^48-1)."""
    if not 1 <= client_order_index <= MAX_CLIENT_ORDER_INDEX:
        raise OrderRefusedError(
            f"client_order_index {client_order_index} outside 1..{MAX_CLIENT_ORDER_INDEX}"
        )


def build_order(
    market: MarketInfo,
    *,
    side: OrderSide,
    size: Decimal,
    price: Decimal,
    client_order_index: int,
    order_type: OrderType = OrderType.LIMIT,
    time_in_force: TimeInForce = TimeInForce.GTT,
    reduce_only: bool = False,
    trigger_price: Decimal | None = None,
    order_expiry_ms: int | None = None,
) -> OrderSpec:
    """Quantise and validate one order; raise `OrderRefusedError` before anything is sent.

    Reduce-only orders skip the minimum-size check: closing a small remainder must stay possible.
    """
    check_client_order_index(client_order_index)
    units = units_of(market)
    is_ask = side is OrderSide.SELL
    try:
        lots = units.size_lots(size)
        ticks = units.price_ticks(price, is_ask=is_ask)
        trigger = units.price_ticks(trigger_price, is_ask=is_ask) if trigger_price else 0
    except UnitsError as exc:
        raise OrderRefusedError(f"{market.symbol}: {exc}") from exc
    if lots <= 0:
        raise OrderRefusedError(
            f"{market.symbol}: size {size} rounds to zero lots (lot {market.lot_size})"
        )
    if ticks <= 0:
        raise OrderRefusedError(f"{market.symbol}: price {price} rounds to zero ticks")
    if not reduce_only:
        _check_minimums(market, units.size(lots), units.price(ticks))
    if order_expiry_ms is None:
        # IOC and market orders must carry expiry 0; resting orders get the signer's 28 days.
        order_expiry_ms = 0 if time_in_force is TimeInForce.IOC else DEFAULT_EXPIRY
    return OrderSpec(
        market_id=market.market_id,
        client_order_index=client_order_index,
        base_amount=lots,
        price=ticks,
        is_ask=is_ask,
        order_type=order_type,
        time_in_force=time_in_force,
        reduce_only=reduce_only,
        trigger_price=trigger,
        order_expiry_ms=order_expiry_ms,
    )


def _check_minimums(market: MarketInfo, size: Decimal, price: Decimal) -> None:
    if size < market.min_base_amount:
        raise OrderRefusedError(
            f"{market.symbol}: size {size} is below the minimum base amount "
            f"{market.min_base_amount}"
        )
    notional = size * price
    if notional < market.min_quote_amount:
        raise OrderRefusedError(
            f"{market.symbol}: notional {notional} is below the minimum quote amount "
            f"{market.min_quote_amount}"
        )


def protection_price(
    book: OrderBook, side: OrderSide, size: Decimal, max_slippage: Decimal
) -> Decimal:
    """Worst acceptable price for a market order of `size`, from the live book.

    The reference is the best opposite price; the bound is `max_slippage` (0.01 = 1 %) away from
    it, so a thin book cannot fill us far away. Raises when the opposite side is empty.
    """
    if max_slippage < 0:
        raise OrderRefusedError(f"max_slippage must be >= 0, got {max_slippage}")
    levels: tuple[BookLevel, ...] = book.asks if side is OrderSide.BUY else book.bids
    if not levels:
        raise OrderRefusedError(
            f"market {book.market_id}: no {'asks' if side is OrderSide.BUY else 'bids'} to trade"
        )
    best = levels[0].price
    if side is OrderSide.BUY:
        return best * (1 + max_slippage)
    return best * (1 - max_slippage)


def leverage_fraction(leverage: Decimal) -> int:
    """Initial margin fraction (1/10,000) for a leverage: 20x -> 500."""
    if leverage <= 0:
        raise OrderRefusedError(f"leverage must be positive, got {leverage}")
    fraction = int(Decimal(10_000) / leverage)
    if not 1 <= fraction <= 10_000:
        raise OrderRefusedError(f"leverage {leverage} outside 1x..10000x")
    return fraction


def chunks(specs: list[TxSpec], size: int = MAX_BATCH_SIZE) -> list[list[TxSpec]]:
    """Split transactions into sendTxBatch-sized groups, keeping their order."""
    if size < 1:
        raise ValueError("chunk size must be positive")
    return [specs[i : i + size] for i in range(0, len(specs), size)]


def one_expiry(legs: Sequence[OrderSpec], now_ms: int) -> tuple[OrderSpec, ...]:
    """A grouped order's legs with one explicit expiry (now + 28 days) where they asked for the
    default. Lighter wants the legs of an OCO and the children of an OTOCO to expire together;
    the SDK's signer turns each -1 into "now + 28 days" from its own clock reading, leg by leg,
    so when the millisecond turns between two legs it refuses the whole group ("OrderExpiry is
    invalid", about one group in 700). IOC legs keep their 0."""
    expiry = now_ms + DEFAULT_EXPIRY_PERIOD_MS
    return tuple(
        replace(leg, order_expiry_ms=expiry) if leg.order_expiry_ms == DEFAULT_EXPIRY else leg
        for leg in legs
    )
