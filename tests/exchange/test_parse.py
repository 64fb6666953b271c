"""The parser reads every captured Lighter payload into typed values with exact decimals."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from exchange import frames, parse, parse_ws
from exchange.types import (
    LiquidityRole,
    MarginMode,
    OrderSide,
    PositionSide,
)
from tests.paths import FIXTURES


def _load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


HTTP_PARSERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "http_account.json": parse.parse_accounts,
    "http_candles.json": parse.parse_candles,
    "http_candles_null.json": parse.parse_candles,
    "http_fundings.json": parse.parse_fundings,
    "http_next_nonce.json": parse.parse_next_nonce,
    "http_order_book_depth.json": lambda p: parse.parse_order_book_depth(p, 0),
    "http_order_book_depth_null.json": lambda p: parse.parse_order_book_depth(p, 0),
    "http_order_book_details.json": parse.parse_markets,
    "http_order_book_orders.json": lambda p: parse.parse_order_book_orders(p, 0),
    "http_order_books.json": parse.parse_markets,
    "http_orders.json": parse.parse_orders,
    "http_recent_trades.json": parse.parse_trades,
    "http_recent_trades_missing.json": parse.parse_trades,
    "http_recent_trades_null.json": parse.parse_trades,
    "http_recent_trades_unordered.json": parse.parse_trades,
}

ALL_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.json"))


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_fixture_payload_parses_into_typed_values(name: str) -> None:
    payload = _load(name)
    if name.startswith("ws_"):
        result = parse_ws.parse_frame(payload)
        assert not isinstance(result, frames.UnknownFrame), result
    else:
        assert name in HTTP_PARSERS, f"no parser mapped for REST fixture {name}"
        result = HTTP_PARSERS[name](payload)
    assert result is not None


def test_market_details_give_decimals_minimums_and_max_leverage() -> None:
    (eth,) = parse.parse_markets(_load("http_order_book_details.json"))
    assert (eth.market_id, eth.symbol) == (0, "ETH")
    assert (eth.size_decimals, eth.price_decimals) == (4, 2)
    assert eth.min_base_amount == Decimal("0.0050")
    assert eth.min_quote_amount == Decimal("10.000000")
    assert eth.max_leverage == Decimal(50)
    assert eth.last_trade_price == Decimal("2361.31")
    assert eth.tick_size == Decimal("0.01") and eth.lot_size == Decimal("0.0001")


def test_account_reads_balances_and_a_flat_position() -> None:
    (account,) = parse.parse_accounts(_load("http_account.json"))
    assert account.account_index == 123456
    (btc,) = account.positions
    assert btc.side is PositionSide.FLAT
    assert btc.leverage == Decimal(10)
    assert btc.margin_mode is MarginMode.CROSS
    assert account.position(1) is btc and account.position(0) is None


def test_stream_position_with_fractional_imf_reads_as_long_20x() -> None:
    frame = parse_ws.parse_frame(_load("ws_account_all_positions_update.json"))
    assert isinstance(frame, frames.AccountPositionsFrame)
    (eth,) = frame.positions
    assert eth.side is PositionSide.LONG and eth.size == Decimal("1.5000")
    assert eth.leverage == Decimal(20)
    assert eth.signed_size == Decimal("1.5000")


def test_orders_page_carries_cursor_and_fill_ratio() -> None:
    page = parse.parse_orders(_load("http_orders.json"))
    assert page.next_cursor == "cursor-1"
    (order,) = page.items
    assert order.side is OrderSide.SELL and order.status == "open" and order.is_active
    assert order.price == Decimal("2352.74") and order.client_order_index == 42
    assert order.fill_ratio == 0


def test_partially_filled_stream_order_reports_its_fill_ratio() -> None:
    frame = parse_ws.parse_frame(_load("ws_account_orders_update.json"))
    assert isinstance(frame, frames.AccountOrdersFrame) and frame.account_index == 1234
    (order,) = frame.orders
    assert order.fill_ratio == Decimal("0.4")
    assert order.average_fill_price == Decimal("2352.74")


def test_unordered_trades_come_back_oldest_first() -> None:
    page = parse.parse_trades(_load("http_recent_trades_unordered.json"))
    ids = [t.trade_id for t in page.items]
    assert ids == sorted(ids)


@pytest.mark.parametrize(
    "name", ["http_recent_trades_missing.json", "http_recent_trades_null.json"]
)
def test_missing_or_null_trade_lists_read_as_empty(name: str) -> None:
    page = parse.parse_trades(_load(name))
    assert page.items == () and page.next_cursor is None


def test_account_trade_becomes_a_taker_buy_fill_of_that_account() -> None:
    frame = parse_ws.parse_frame(_load("ws_account_all_trades_update.json"))
    assert isinstance(frame, frames.AccountFillsFrame)
    (fill,) = frame.fills
    assert fill.side is OrderSide.BUY and fill.role is LiquidityRole.TAKER
    assert fill.fee_rate_e6 == 196 and fill.client_order_index == 7001011966


def test_trade_of_other_accounts_is_not_a_fill() -> None:
    (trade,) = parse.parse_trades(_load("http_recent_trades.json")).items
    assert parse.parse_fill(trade, account_index=1) is None


def test_candle_floats_become_exact_decimals() -> None:
    first, second = parse.parse_candles(_load("http_candles.json"))
    assert first.close == Decimal("2361.31") and second.volume_quote == Decimal("1181.905")
    assert parse.parse_candles(_load("http_candles_null.json")) == []


def test_order_book_orders_aggregate_to_levels_best_first() -> None:
    book = parse.parse_order_book_orders(_load("http_order_book_orders.json"), 0)
    top = book.top()
    assert top.bid == Decimal("2361.17") and top.ask == Decimal("2361.32")
    assert top.mid == (Decimal("2361.17") + Decimal("2361.32")) / 2


def test_book_delta_keeps_nonce_chain_for_continuity_checks() -> None:
    frame = parse_ws.parse_frame(_load("ws_order_book_update.json"))
    assert isinstance(frame, frames.OrderBookFrame) and not frame.is_snapshot
    assert (frame.book.begin_nonce, frame.book.nonce) == (9182389998, 9182390020)


def test_empty_ticker_has_no_prices() -> None:
    frame = parse_ws.parse_frame(_load("ws_ticker_subscribed_empty.json"))
    assert isinstance(frame, frames.TickerFrame)
    assert frame.top.bid is None and frame.top.mid is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"type": "connected", "session_id": "s1"}, frames.ConnectedFrame("s1")),
        ({"type": "ping"}, frames.PingFrame()),
        ({"type": "error", "code": 30003, "message": "x"}, frames.ErrorFrame(30003, "x")),
        ({"error": {"code": 30005, "message": "bad"}}, frames.ErrorFrame(30005, "bad")),
        (
            {"type": "jsonapi/sendtx", "code": 200, "tx_hash": "ab"},
            frames.TxReplyFrame(200, ("ab",), ""),
        ),
    ],
)
def test_control_frames(raw: dict[str, Any], expected: frames.Frame) -> None:
    assert parse_ws.parse_frame(raw) == expected


def test_tx_failure_reason_comes_from_event_info() -> None:
    result = parse.parse_tx(
        {"hash": "h", "type": 14, "status": 0, "event_info": '{"ae":"not enough margin"}'}
    )
    assert result.failed and result.error == "not enough margin"


def test_send_reply_lists_hashes_for_single_and_batch() -> None:
    assert parse.parse_send_tx({"code": 200, "tx_hash": "a"}).tx_hashes == ("a",)
    assert parse.parse_send_tx({"code": 200, "tx_hash": ["a", "b"]}).tx_hashes == ("a", "b")


def test_non_numeric_amount_is_a_parse_error() -> None:
    with pytest.raises(parse.ParseError):
        parse.dec("abc")
