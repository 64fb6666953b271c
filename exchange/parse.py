"""Lighter REST bodies -> the typed views of `exchange.types` (websocket frames: `parse_ws`).

Lighter omits zero/empty fields and sends `null` lists, so every reader here tolerates missing
keys. Decimal strings become `Decimal` exactly; the few JSON floats (candles, last trade price)
go through `repr` so no binary-float noise enters an amount.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal

from exchange.parse_account import (
    parse_account,
    parse_accounts,
    parse_asset,
    parse_fill,
    parse_order,
    parse_orders,
    parse_position,
    parse_sub_accounts,
    parse_trade,
    parse_trades,
)
from exchange.parse_base import (
    Json,
    ParseError,
    as_list,
    channel_parts,
    dec,
    dec_or_none,
    to_int,
)
from exchange.types import (
    ApiKeyInfo,
    BookLevel,
    Candle,
    FundingPayment,
    FundingRate,
    MarketInfo,
    MarketStats,
    OrderBook,
    Page,
    SendResult,
    TxResult,
    VenueFundingRate,
)

__all__ = [
    "ParseError",
    "aggregate_levels",
    "as_list",
    "channel_parts",
    "dec",
    "dec_or_none",
    "parse_account",
    "parse_accounts",
    "parse_api_keys",
    "parse_asset",
    "parse_candle",
    "parse_candles",
    "parse_fill",
    "parse_funding_payment",
    "parse_funding_rates",
    "parse_fundings",
    "parse_levels",
    "parse_market",
    "parse_market_stats",
    "parse_markets",
    "parse_next_nonce",
    "parse_order",
    "parse_order_book_depth",
    "parse_order_book_orders",
    "parse_orders",
    "parse_position",
    "parse_position_fundings",
    "parse_send_tx",
    "parse_sub_accounts",
    "parse_trade",
    "parse_trades",
    "parse_tx",
    "to_int",
]


def parse_market(row: Json) -> MarketInfo:
    """One row of orderBookDetails (perp or spot) or orderBooks."""
    size_decimals = to_int(row.get("supported_size_decimals", row.get("size_decimals")))
    price_decimals = to_int(row.get("supported_price_decimals", row.get("price_decimals")))
    min_imf = to_int(row.get("min_initial_margin_fraction"))
    # IMF is in 1/100 %: 200 = 2 % = 50x. orderBooks rows lack it; 0 means "unknown".
    max_leverage = Decimal(10000) / min_imf if min_imf else Decimal(0)
    return MarketInfo(
        market_id=to_int(row.get("market_id")),
        symbol=str(row.get("symbol", "")),
        size_decimals=size_decimals,
        price_decimals=price_decimals,
        min_base_amount=dec(row.get("min_base_amount")),
        min_quote_amount=dec(row.get("min_quote_amount")),
        max_leverage=max_leverage,
        last_trade_price=dec_or_none(row.get("last_trade_price")),
        market_type=str(row.get("market_type", "perp")),
        status=str(row.get("status", "active")),
        maker_fee_pct=dec(row.get("maker_fee")),
        taker_fee_pct=dec(row.get("taker_fee")),
    )


def parse_markets(payload: Json) -> list[MarketInfo]:
    """orderBookDetails (perps then spot) or orderBooks body -> markets, by market id."""
    rows = (
        as_list(payload, "order_book_details")
        + as_list(payload, "spot_order_book_details")
        + as_list(payload, "order_books")
    )
    markets = {m.market_id: m for m in (parse_market(r) for r in rows)}
    return sorted(markets.values(), key=lambda m: m.market_id)


def parse_candle(row: Json) -> Candle:
    """One candle row (short keys `t/o/h/l/c/v`, or the long names) -> a candle."""
    return Candle(
        timestamp_ms=to_int(row.get("t", row.get("timestamp"))),
        open=dec(row.get("o", row.get("open"))),
        high=dec(row.get("h", row.get("high"))),
        low=dec(row.get("l", row.get("low"))),
        close=dec(row.get("c", row.get("close"))),
        volume_base=dec(row.get("v", row.get("volume0"))),
        volume_quote=dec(row.get("V", row.get("volume1"))),
        last_trade_id=to_int(row.get("i", row.get("last_trade_id"))),
    )


def parse_candles(payload: Json) -> list[Candle]:
    """Candles body (`c`, or legacy `candlesticks`) -> candles oldest first."""
    rows = as_list(payload, "c") or as_list(payload, "candlesticks")
    return sorted((parse_candle(r) for r in rows), key=lambda c: c.timestamp_ms)


def parse_fundings(payload: Json) -> list[FundingRate]:
    """GET /fundings body -> realised funding rates."""
    return [
        FundingRate(
            timestamp_s=to_int(row.get("timestamp")),
            value=dec(row.get("value")),
            rate=dec(row.get("rate")),
            direction=str(row.get("direction", "")),
        )
        for row in as_list(payload, "fundings")
    ]


def parse_funding_rates(payload: Json) -> list[VenueFundingRate]:
    """GET /funding-rates body -> 8h-equivalent rates per venue."""
    return [
        VenueFundingRate(
            market_id=to_int(row.get("market_id")),
            exchange=str(row.get("exchange", "")),
            symbol=str(row.get("symbol", "")),
            rate=dec(row.get("rate")),
        )
        for row in as_list(payload, "funding_rates")
    ]


def parse_funding_payment(row: Json, market_id: int | None = None) -> FundingPayment:
    """One funding payment row; `market_id` fills in when the row omits it (per-market frames)."""
    return FundingPayment(
        timestamp_s=to_int(row.get("timestamp")),
        market_id=to_int(row.get("market_id"), market_id or 0),
        funding_id=to_int(row.get("funding_id")),
        change=dec(row.get("change")),
        rate=dec(row.get("rate")),
        position_size=dec(row.get("position_size")),
        position_side=str(row.get("position_side", "")),
    )


def parse_position_fundings(payload: Json) -> Page[FundingPayment]:
    """GET /positionFunding body -> one page of funding payments."""
    items = tuple(parse_funding_payment(r) for r in as_list(payload, "position_fundings"))
    return Page(items=items, next_cursor=payload.get("next_cursor") or None)


def parse_levels(rows: Iterable[Json], size_key: str = "size") -> tuple[BookLevel, ...]:
    """Book rows -> levels as sent (the size field is `size_key`: orders name it differently)."""
    return tuple(BookLevel(price=dec(r.get("price")), size=dec(r.get(size_key))) for r in rows)


def aggregate_levels(levels: tuple[BookLevel, ...], descending: bool) -> tuple[BookLevel, ...]:
    """Orders at one price summed into one level, best first (bids `descending`)."""
    totals: dict[Decimal, Decimal] = {}
    for level in levels:
        totals[level.price] = totals.get(level.price, Decimal(0)) + level.size
    ordered = sorted(totals.items(), key=lambda kv: kv[0], reverse=descending)
    return tuple(BookLevel(price=p, size=s) for p, s in ordered)


def parse_order_book_orders(payload: Json, market_id: int) -> OrderBook:
    """GET /orderBookOrders body (one row per resting order) -> price levels, best first."""
    asks = parse_levels(as_list(payload, "asks"), "remaining_base_amount")
    bids = parse_levels(as_list(payload, "bids"), "remaining_base_amount")
    return OrderBook(
        market_id=market_id,
        bids=aggregate_levels(bids, descending=True),
        asks=aggregate_levels(asks, descending=False),
    )


def parse_order_book_depth(payload: Json, market_id: int) -> OrderBook:
    """An order-book depth body or a stream `order_book` object -> levels, best first."""
    return OrderBook(
        market_id=market_id,
        bids=aggregate_levels(parse_levels(as_list(payload, "bids")), descending=True),
        asks=aggregate_levels(parse_levels(as_list(payload, "asks")), descending=False),
        nonce=to_int(payload.get("nonce")),
        begin_nonce=to_int(payload.get("begin_nonce")),
        offset=to_int(payload.get("offset")),
        timestamp_ms=to_int(payload.get("last_updated_at")) // 1000,
    )


def parse_next_nonce(payload: Json) -> int:
    """GET /nextNonce body -> the next nonce the exchange expects."""
    if "nonce" not in payload:
        raise ParseError("nextNonce reply has no nonce")
    return int(payload["nonce"])


def parse_send_tx(payload: Json) -> SendResult:
    """sendTx / sendTxBatch body -> the accepted tx hashes."""
    raw = payload.get("tx_hash")
    hashes = tuple(raw) if isinstance(raw, list) else ((str(raw),) if raw else ())
    return SendResult(
        tx_hashes=hashes,
        predicted_execution_time_ms=to_int(payload.get("predicted_execution_time_ms")),
    )


def parse_tx(payload: Json) -> TxResult:
    """GET /tx body -> status and the sequencer's error (`event_info.ae`) if any."""
    error = ""
    event_info = payload.get("event_info")
    if isinstance(event_info, str) and event_info:
        try:
            event = json.loads(event_info)
        except ValueError:
            event = {}
        if isinstance(event, dict):
            error = str(event.get("ae") or "")
    return TxResult(
        tx_hash=str(payload.get("hash", "")),
        status=to_int(payload.get("status"), 1),
        tx_type=to_int(payload.get("type")),
        error=error,
    )


def parse_api_keys(payload: Json) -> list[ApiKeyInfo]:
    """GET /apikeys body -> registered keys."""
    return [
        ApiKeyInfo(
            account_index=to_int(r.get("account_index")),
            api_key_index=to_int(r.get("api_key_index")),
            public_key=str(r.get("public_key", "")),
            nonce=to_int(r.get("nonce")),
        )
        for r in as_list(payload, "api_keys")
    ]


def parse_market_stats(row: Json) -> MarketStats:
    """A market_stats object (stream or REST)."""
    return MarketStats(
        market_id=to_int(row.get("market_id")),
        symbol=str(row.get("symbol", "")),
        last_trade_price=dec_or_none(row.get("last_trade_price")),
        mark_price=dec_or_none(row.get("mark_price")),
        index_price=dec_or_none(row.get("index_price")),
        mid_price=dec_or_none(row.get("mid_price")),
        funding_rate=dec_or_none(row.get("funding_rate")),
        current_funding_rate=dec_or_none(row.get("current_funding_rate")),
        funding_timestamp_ms=to_int(row.get("funding_timestamp")),
    )
