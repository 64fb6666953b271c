"""Websocket frames of Lighter's `/stream` -> typed frames (`exchange.frames`).

Server frames name their channel with `:` (`"order_book:0"`, `"account_orders:0:1234"`); the
account index is always the last part of an account channel. Per-market maps
(`{"0": [...]}`) and flat lists are both accepted because Lighter sends either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exchange.frames import (
    AccountAllFrame,
    AccountAssetsFrame,
    AccountFillsFrame,
    AccountOrdersFrame,
    AccountPositionsFrame,
    CandlesFrame,
    ConnectedFrame,
    ErrorFrame,
    Frame,
    HeightFrame,
    MarketStatsFrame,
    OrderBookFrame,
    PingFrame,
    PongFrame,
    TickerFrame,
    TradesFrame,
    TxReplyFrame,
    UnknownFrame,
    UserStatsFrame,
)
from exchange.parse import (
    parse_candle,
    parse_funding_payment,
    parse_market_stats,
    parse_order_book_depth,
)
from exchange.parse_account import parse_asset, parse_fill, parse_order, parse_position, parse_trade
from exchange.parse_base import as_list, channel_parts, dec, dec_or_none, to_int
from exchange.types import BookTop, FillInfo, UserStats

Json = Mapping[str, Any]


def _flatten(value: Any) -> list[Any]:
    """Rows of a per-market map (`{"0": [..]}` or `{"0": {..}}`) or of a flat list."""
    if not value:
        return []
    if isinstance(value, Mapping):
        rows: list[Any] = []
        for item in value.values():
            rows.extend(item if isinstance(item, list) else [item])
        return rows
    return list(value)


def _account(parts: list[str], frame: Json, fallback: int | None) -> int:
    if len(parts) > 1 and parts[-1].isdigit():
        return int(parts[-1])
    return to_int(frame.get("account"), fallback or 0)


def _fills(rows: list[Any], account_index: int) -> tuple[FillInfo, ...]:
    fills = (parse_fill(row, account_index) for row in rows)
    return tuple(f for f in fills if f is not None)


def _ticker(frame: Json, market_id: int, is_snapshot: bool) -> TickerFrame:
    ticker = frame.get("ticker") or {}
    ask = ticker.get("a") or {}
    bid = ticker.get("b") or {}
    top = BookTop(
        market_id=market_id,
        bid=dec_or_none(bid.get("price")),
        ask=dec_or_none(ask.get("price")),
        bid_size=dec(bid.get("size")),
        ask_size=dec(ask.get("size")),
        timestamp_ms=to_int(frame.get("timestamp")),
    )
    return TickerFrame(top=top, is_snapshot=is_snapshot)


def _stats(value: Any) -> MarketStatsFrame:
    rows = value.values() if isinstance(value, Mapping) and "market_id" not in value else [value]
    return MarketStatsFrame(
        stats=tuple(parse_market_stats(r) for r in rows if r), is_snapshot=False
    )


def _user_stats(stats: Json) -> UserStats:
    return UserStats(
        collateral=dec(stats.get("collateral")),
        portfolio_value=dec(stats.get("portfolio_value")),
        available_balance=dec(stats.get("available_balance")),
        leverage=dec(stats.get("leverage")),
        margin_usage=dec(stats.get("margin_usage")),
    )


def _channel_frame(frame: Json, frame_type: str, account_index: int | None) -> Frame:
    kind, _, _name = frame_type.partition("/")
    is_snapshot = kind == "subscribed"
    parts = channel_parts(frame)
    channel = parts[0] or _name
    last = parts[-1] if len(parts) > 1 else ""
    if channel == "order_book":
        book = parse_order_book_depth(frame.get("order_book") or {}, to_int(last))
        return OrderBookFrame(book=book, is_snapshot=is_snapshot)
    if channel == "ticker":
        return _ticker(frame, to_int(last), is_snapshot)
    if channel in ("market_stats", "spot_market_stats"):
        market_stats = _stats(frame.get(channel))
        return MarketStatsFrame(stats=market_stats.stats, is_snapshot=is_snapshot)
    if channel == "trade":
        trades = tuple(parse_trade(r) for r in as_list(frame, "trades"))
        return TradesFrame(market_id=to_int(last), trades=trades, is_snapshot=is_snapshot)
    if channel == "candle":
        candles = tuple(parse_candle(r) for r in as_list(frame, "candles"))
        return CandlesFrame(
            market_id=to_int(parts[1]) if len(parts) > 1 else 0,
            resolution=parts[2] if len(parts) > 2 else "",
            candles=candles,
            is_snapshot=is_snapshot,
        )
    if channel == "height":
        return HeightFrame(height=to_int(frame.get("height")))
    account = _account(parts, frame, account_index)
    if channel in ("account_orders", "account_all_orders"):
        orders = tuple(parse_order(r) for r in _flatten(frame.get("orders")))
        return AccountOrdersFrame(account_index=account, orders=orders, is_snapshot=is_snapshot)
    if channel == "account_all_trades":
        fills = _fills(_flatten(frame.get("trades")), account)
        return AccountFillsFrame(account_index=account, fills=fills, is_snapshot=is_snapshot)
    if channel == "account_all_positions":
        positions = tuple(parse_position(r) for r in _flatten(frame.get("positions")))
        return AccountPositionsFrame(
            account_index=account, positions=positions, is_snapshot=is_snapshot
        )
    if channel == "account_all_assets":
        assets = tuple(parse_asset(r) for r in _flatten(frame.get("assets")))
        return AccountAssetsFrame(account_index=account, assets=assets, is_snapshot=is_snapshot)
    if channel == "user_stats":
        stats = _user_stats(frame.get("stats") or {})
        return UserStatsFrame(account_index=account, stats=stats, is_snapshot=is_snapshot)
    if channel == "account_all":
        return AccountAllFrame(
            account_index=account,
            positions=tuple(parse_position(r) for r in _flatten(frame.get("positions"))),
            fills=_fills(_flatten(frame.get("trades")), account),
            funding=tuple(
                parse_funding_payment(r) for r in _flatten(frame.get("funding_histories"))
            ),
            is_snapshot=is_snapshot,
        )
    return UnknownFrame(frame_type=frame_type, raw=dict(frame))


def parse_frame(frame: Json, account_index: int | None = None) -> Frame:
    """One websocket frame -> a typed frame (unknown types come back as `UnknownFrame`)."""
    frame_type = str(frame.get("type", ""))
    if frame_type == "connected":
        return ConnectedFrame(session_id=str(frame.get("session_id", "")))
    if frame_type == "ping":
        return PingFrame()
    if frame_type == "pong":
        return PongFrame()
    nested = frame.get("error")
    if frame_type == "error" or isinstance(nested, Mapping):
        body: Json = nested if isinstance(nested, Mapping) else frame
        return ErrorFrame(code=to_int(body.get("code")), message=str(body.get("message", "")))
    if frame_type.startswith("jsonapi/"):
        raw = frame.get("tx_hash")
        hashes = tuple(raw) if isinstance(raw, list) else ((str(raw),) if raw else ())
        return TxReplyFrame(
            code=to_int(frame.get("code"), 200),
            tx_hashes=hashes,
            message=str(frame.get("message", "")),
        )
    if "/" not in frame_type:
        return UnknownFrame(frame_type=frame_type, raw=dict(frame))
    return _channel_frame(frame, frame_type, account_index)
