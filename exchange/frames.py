"""Typed websocket frames from Lighter's `/stream`, as produced by `exchange.parse_ws.parse_frame`.

`is_snapshot` is True for `subscribed/...` frames (full state) and False for `update/...` deltas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exchange.types import (
    AccountAsset,
    BookTop,
    Candle,
    FillInfo,
    FundingPayment,
    MarketStats,
    OrderBook,
    OrderInfo,
    PositionInfo,
    Trade,
    UserStats,
)


@dataclass(frozen=True, slots=True)
class ConnectedFrame:
    """First frame of a connection."""

    session_id: str


@dataclass(frozen=True, slots=True)
class PingFrame:
    """Application-level ping: answer with a pong or be disconnected."""


@dataclass(frozen=True, slots=True)
class PongFrame:
    """Answer to our ping."""


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    """An error reported on the stream (bad channel, auth, rate limit...)."""

    code: int
    message: str


@dataclass(frozen=True, slots=True)
class OrderBookFrame:
    """Book snapshot or delta; continuity: delta.begin_nonce == previous.nonce."""

    book: OrderBook
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class TickerFrame:
    """Best bid/ask of one market."""

    top: BookTop
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class MarketStatsFrame:
    """Statistics of one or all markets."""

    stats: tuple[MarketStats, ...]
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class TradesFrame:
    """Public trades of a market (newest first, as sent)."""

    market_id: int
    trades: tuple[Trade, ...]
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class CandlesFrame:
    """Candles of one market and resolution."""

    market_id: int
    resolution: str
    candles: tuple[Candle, ...]
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class AccountOrdersFrame:
    """Orders of an account (one market or all)."""

    account_index: int
    orders: tuple[OrderInfo, ...]
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class AccountFillsFrame:
    """Fills of an account."""

    account_index: int
    fills: tuple[FillInfo, ...]
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class AccountPositionsFrame:
    """Positions of an account."""

    account_index: int
    positions: tuple[PositionInfo, ...]
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class AccountAssetsFrame:
    """Asset balances of an account."""

    account_index: int
    assets: tuple[AccountAsset, ...]
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class AccountAllFrame:
    """The combined account_all channel: positions, fills and funding payments."""

    account_index: int
    positions: tuple[PositionInfo, ...]
    fills: tuple[FillInfo, ...]
    funding: tuple[FundingPayment, ...]
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class UserStatsFrame:
    """Account-level figures."""

    account_index: int
    stats: UserStats
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class HeightFrame:
    """Current block height."""

    height: int


@dataclass(frozen=True, slots=True)
class TxReplyFrame:
    """Reply to a jsonapi/sendtx(batch) sent over the stream."""

    code: int
    tx_hashes: tuple[str, ...]
    message: str


@dataclass(frozen=True, slots=True)
class UnknownFrame:
    """A frame type this parser does not model; kept raw so the caller can log it."""

    frame_type: str
    raw: dict[str, Any]


Frame = (
    ConnectedFrame
    | PingFrame
    | PongFrame
    | ErrorFrame
    | OrderBookFrame
    | TickerFrame
    | MarketStatsFrame
    | TradesFrame
    | CandlesFrame
    | AccountOrdersFrame
    | AccountFillsFrame
    | AccountPositionsFrame
    | AccountAssetsFrame
    | AccountAllFrame
    | UserStatsFrame
    | HeightFrame
    | TxReplyFrame
    | UnknownFrame
)
