"""Engine objects -> JSON payloads shaped exactly like Lighter's (lighter-api.md §2.3, §4.4, §7).

Every decimal string carries exactly the market's decimals: the SDK strips the "." to recover
integers, so "2361.3" instead of "2361.30" would be a silent 10x error on the client.
Fields that Lighter documents as floats (daily volumes, candle OHLC) are emitted as JSON numbers.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from exchange.units import format_fixed

USDC_DECIMALS = 6
USDC_ASSET_ID = 3


def fixed(value: int, decimals: int) -> str:
    """Integer of 10^-decimals units -> decimal string with exactly ``decimals`` decimals."""
    return format_fixed(value, decimals)


def dec(value: Decimal | int, decimals: int) -> str:
    """Decimal -> string with exactly ``decimals`` decimals (half-even, like Go's formatting)."""
    quantum = Decimal(1).scaleb(-decimals)
    text = f"{Decimal(value).quantize(quantum, rounding=ROUND_HALF_EVEN):f}"
    return "0" + text[2:] if text.startswith("-0") and Decimal(text) == 0 else text


def num(value: Decimal | int) -> float | int:
    """A JSON number for the fields Lighter itself sends as floats (stats, candles)."""
    if isinstance(value, int):
        return value
    return float(value)


def order_json(order: Any, market: Any, symbol: str | None = None) -> dict[str, Any]:
    """Order -> the ``Order`` object of REST ``Orders`` and the account order channels."""
    sd, pd = market.size_decimals, market.price_decimals
    is_ask = bool(order.is_ask)
    return {
        "order_index": order.order_index,
        "client_order_index": order.client_order_index,
        "order_id": str(order.order_index),
        "client_order_id": str(order.client_order_index),
        "market_index": order.market_id,
        "owner_account_index": order.owner_account_index,
        "initial_base_amount": fixed(order.initial_base_amount, sd),
        "price": fixed(order.price, pd),
        "nonce": order.nonce,
        "remaining_base_amount": fixed(order.remaining_base_amount, sd),
        "is_ask": is_ask,
        "base_size": order.initial_base_amount,
        "base_price": order.price,
        "filled_base_amount": fixed(order.filled_base_amount, sd),
        "filled_quote_amount": dec(order.filled_quote_amount, USDC_DECIMALS),
        "side": "sell" if is_ask else "buy",
        "type": order.type,
        "time_in_force": order.time_in_force,
        "reduce_only": bool(order.reduce_only),
        "trigger_price": fixed(order.trigger_price, pd),
        "order_expiry": order.order_expiry,
        "status": order.status,
        "trigger_status": order.trigger_status,
        "trigger_time": getattr(order, "trigger_time", 0),
        "parent_order_index": order.parent_order_index,
        "parent_order_id": str(order.parent_order_index),
        "to_trigger_order_id_0": str(order.to_trigger_order_id_0),
        "to_trigger_order_id_1": str(order.to_trigger_order_id_1),
        "to_cancel_order_id_0": str(order.to_cancel_order_id_0),
        "integrator_fee_collector_index": "0",
        "integrator_taker_fee": "0",
        "integrator_maker_fee": "0",
        "block_height": order.block_height,
        "timestamp": order.created_at,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "transaction_time": order.transaction_time,
        "order_flags": 0,
        "order_version": order.order_version,
        "market_symbol": symbol if symbol is not None else market.symbol,
        "market_kind": "perps",
    }


def simple_order_json(order: Any, market: Any) -> dict[str, Any]:
    """Order -> ``SimpleOrder`` of ``orderBookOrders``."""
    sd = market.size_decimals
    return {
        "order_index": order.order_index,
        "order_id": str(order.order_index),
        "owner_account_index": order.owner_account_index,
        "initial_base_amount": fixed(order.initial_base_amount, sd),
        "remaining_base_amount": fixed(order.remaining_base_amount, sd),
        "price": fixed(order.price, market.price_decimals),
        "order_expiry": order.order_expiry,
        "transaction_time": order.transaction_time,
    }


# Optional trade fields Lighter omits when zero (docs): int fees and the taker/maker "before" state.
_TRADE_BEFORE_SIZE = ("taker_position_size_before", "maker_position_size_before")
_TRADE_BEFORE_QUOTE = ("taker_entry_quote_before", "maker_entry_quote_before")
_TRADE_BEFORE_IMF = (
    "taker_initial_margin_fraction_before",
    "maker_initial_margin_fraction_before",
)


def trade_json(trade: Any, market: Any) -> dict[str, Any]:
    """Trade -> the ``Trade`` object of REST ``Trades`` and the trade/account channels."""
    sd, pd = market.size_decimals, market.price_decimals
    out: dict[str, Any] = {
        "trade_id": trade.trade_id,
        "trade_id_str": str(trade.trade_id),
        "tx_hash": trade.tx_hash,
        "type": trade.type,
        "market_id": trade.market_id,
        "size": fixed(trade.size, sd),
        "price": fixed(trade.price, pd),
        "usd_amount": dec(trade.usd_amount, USDC_DECIMALS),
        "ask_id": trade.ask_id,
        "ask_id_str": str(trade.ask_id),
        "bid_id": trade.bid_id,
        "bid_id_str": str(trade.bid_id),
        "ask_client_id": trade.ask_client_id,
        "ask_client_id_str": str(trade.ask_client_id),
        "bid_client_id": trade.bid_client_id,
        "bid_client_id_str": str(trade.bid_client_id),
        "ask_account_id": trade.ask_account_id,
        "bid_account_id": trade.bid_account_id,
        "is_maker_ask": bool(trade.is_maker_ask),
        "block_height": trade.block_height,
        "timestamp": trade.timestamp,
    }
    if trade.taker_fee_ppm:
        out["taker_fee"] = int(trade.taker_fee_ppm)
    if trade.maker_fee_ppm:
        out["maker_fee"] = int(trade.maker_fee_ppm)
    for name in _TRADE_BEFORE_SIZE:
        value = getattr(trade, name, None)
        if value is not None:
            out[name] = fixed(value, sd) if isinstance(value, int) else dec(value, sd)
    for name in _TRADE_BEFORE_QUOTE:
        value = getattr(trade, name, None)
        if value is not None:
            out[name] = dec(value, USDC_DECIMALS)
    for name in _TRADE_BEFORE_IMF:
        value = getattr(trade, name, None)
        if value is not None:
            out[name] = int(value)
    out["transaction_time"] = getattr(trade, "transaction_time", trade.timestamp * 1000)
    return out


def tx_json(tx: Any, l1_address: str = "") -> dict[str, Any]:
    """TxRecord -> ``Tx`` / ``EnrichedTx``."""
    return {
        "code": 200,
        "hash": tx.hash,
        "type": tx.type,
        "info": tx.info,
        "event_info": tx.event_info,
        "status": tx.status,
        "transaction_index": getattr(tx, "sequence_index", 0),
        "l1_address": l1_address,
        "account_index": tx.account_index,
        "nonce": tx.nonce,
        "expire_at": tx.expire_at,
        "block_height": tx.block_height,
        "queued_at": tx.queued_at,
        "executed_at": tx.executed_at,
        "committed_at": tx.executed_at,
        "verified_at": tx.executed_at,
        "sequence_index": tx.sequence_index,
        "parent_hash": "",
        "api_key_index": tx.api_key_index,
        "transaction_time": tx.transaction_time,
    }


def _fee_percent(fee_ppm: Any) -> str:
    # Market rows show the standard tier's rate, in percent with 4 decimals (ppm / 10_000).
    if isinstance(fee_ppm, dict):
        fee_ppm = fee_ppm.get("standard", 0)
    return dec(Decimal(int(fee_ppm)) / Decimal(10_000), 4)


def order_book_json(market: Any) -> dict[str, Any]:
    """MarketSpec -> ``OrderBook`` row of ``orderBooks``."""
    return {
        "symbol": market.symbol,
        "market_id": market.market_id,
        "market_type": "perp",
        "base_asset_id": 0,
        "quote_asset_id": 0,
        "status": "active",
        "taker_fee": _fee_percent(market.taker_fee_ppm),
        "is_taker_fee_enabled": True,
        "maker_fee": _fee_percent(market.maker_fee_ppm),
        "is_maker_fee_enabled": True,
        "liquidation_fee": "1.0000",
        "min_base_amount": fixed(market.min_base_amount, market.size_decimals),
        "min_quote_amount": dec(market.min_quote_amount, USDC_DECIMALS),
        "order_quote_limit": "281474976.710655",
        "supported_size_decimals": market.size_decimals,
        "supported_price_decimals": market.price_decimals,
        "supported_quote_decimals": getattr(market, "quote_decimals", USDC_DECIMALS),
    }


def order_book_detail_json(market: Any, stats: dict[str, Any]) -> dict[str, Any]:
    """MarketSpec + live stats -> ``PerpsOrderBookDetail`` of ``orderBookDetails``.

    ``stats`` holds Decimals: last_trade_price, mark_price, index_price, daily_* and
    open_interest, plus ints daily_trades_count.
    """
    pd = market.price_decimals
    row = order_book_json(market)
    row.update(
        {
            "size_decimals": market.size_decimals,
            "price_decimals": pd,
            "quote_multiplier": 1,
            "default_initial_margin_fraction": market.default_imf,
            "min_initial_margin_fraction": market.min_imf,
            "maintenance_margin_fraction": market.maintenance_mf,
            "closeout_margin_fraction": market.closeout_mf,
            "last_trade_price": num(stats["last_trade_price"]),
            "daily_trades_count": int(stats["daily_trades_count"]),
            "daily_base_token_volume": num(stats["daily_base_token_volume"]),
            "daily_quote_token_volume": num(stats["daily_quote_token_volume"]),
            "daily_price_low": num(stats["daily_price_low"]),
            "daily_price_high": num(stats["daily_price_high"]),
            "daily_price_change": num(stats["daily_price_change"]),
            "open_interest": num(stats["open_interest"]),
            "daily_chart": {},
            "market_config": {
                "market_margin_mode": 0,
                "insurance_fund_account_index": 281474976710655,
                "liquidation_mode": 0,
                "force_reduce_only": False,
                "trading_hours": "",
                "funding_fee_discounts_enabled": False,
                "hidden": False,
                "rfq_enabled": False,
            },
            "strategy_index": 2,
            "mark_price": dec(stats["mark_price"], pd),
            "index_price": dec(stats["index_price"], pd),
        }
    )
    return row


def market_stats_json(market: Any, stats: dict[str, Any]) -> dict[str, Any]:
    """MarketSpec + live stats -> the ``market_stats`` object of the WS channel."""
    pd = market.price_decimals
    return {
        "symbol": market.symbol,
        "market_id": market.market_id,
        "index_price": dec(stats["index_price"], pd),
        "mark_price": dec(stats["mark_price"], pd),
        "mid_price": dec(stats["mid_price"], pd),
        "open_interest": dec(stats["open_interest"], market.size_decimals),
        "open_interest_limit": "72057594037927936.000000",
        "funding_clamp_small": "0.0500",
        "funding_clamp_big": "4.0000",
        "base_interest_rate": "0.0100",
        "last_trade_price": dec(stats["last_trade_price"], pd),
        "current_funding_rate": dec(stats["current_funding_rate"], 4),
        "funding_rate": dec(stats["funding_rate"], 4),
        "funding_timestamp": int(stats["funding_timestamp"]),
        "daily_base_token_volume": num(stats["daily_base_token_volume"]),
        "daily_quote_token_volume": num(stats["daily_quote_token_volume"]),
        "daily_price_low": num(stats["daily_price_low"]),
        "daily_price_high": num(stats["daily_price_high"]),
        "daily_price_change": num(stats["daily_price_change"]),
    }


def position_json(
    position: Any, market: Any, figures: dict[str, Decimal], open_order_count: int
) -> dict[str, Any]:
    """Position + derived figures -> ``AccountPosition``.

    ``figures`` holds Decimals: position_value, unrealized_pnl, liquidation_price.
    """
    sd, pd = market.size_decimals, market.price_decimals
    imf = int(getattr(position, "initial_margin_fraction", market.default_imf))
    return {
        "market_id": market.market_id,
        "symbol": market.symbol,
        # Lighter shows the IMF in percent with 2 decimals ("10.00" = 10x leverage).
        "initial_margin_fraction": dec(Decimal(imf) / Decimal(100), 2),
        "open_order_count": open_order_count,
        "pending_order_count": 0,
        "position_tied_order_count": 0,
        "sign": position.sign if position.sign else 1,
        "position": fixed(abs(position.size), sd),
        "avg_entry_price": dec(position.avg_entry_price(market.units), pd),
        "position_value": dec(figures["position_value"], USDC_DECIMALS),
        "unrealized_pnl": dec(figures["unrealized_pnl"], USDC_DECIMALS),
        "realized_pnl": dec(position.realized_pnl, USDC_DECIMALS),
        "liquidation_price": dec(figures["liquidation_price"], pd),
        "total_funding_paid_out": dec(
            getattr(position, "total_funding_paid_out", Decimal(0)), USDC_DECIMALS
        ),
        "margin_mode": int(getattr(position, "margin_mode", 0)),
        "allocated_margin": dec(getattr(position, "allocated_margin", Decimal(0)), USDC_DECIMALS),
        "total_discount": "0.000000",
    }


def usdc_asset_json(collateral: Decimal, margin_balance: Decimal) -> dict[str, Any]:
    """The USDC row of ``assets`` (REST account and ``account_all_assets``)."""
    return {
        "symbol": "USDC",
        "asset_id": USDC_ASSET_ID,
        "balance": dec(collateral, USDC_DECIMALS),
        "locked_balance": "0.000000",
        "margin_mode": "disabled",
        "margin_balance": dec(margin_balance, USDC_DECIMALS),
    }


def account_summary_json(account: Any, figures: dict[str, Any]) -> dict[str, Any]:
    """Account -> the ``Account`` object of ``accountsByL1Address`` (no positions).

    ``figures``: available_balance (Decimal), total_order_count, pending_order_count (ints).
    """
    return {
        "code": 0,
        "account_type": 0,
        "index": account.index,
        "l1_address": account.l1_address,
        "cancel_all_time": account.cancel_all_time,
        "total_order_count": figures["total_order_count"],
        "total_isolated_order_count": 0,
        "pending_order_count": figures["pending_order_count"],
        "available_balance": dec(figures["available_balance"], USDC_DECIMALS),
        "status": 1,
        "collateral": dec(account.collateral, USDC_DECIMALS),
        "transaction_time": figures.get("transaction_time", 0),
        "account_trading_mode": 0,
    }


def detailed_account_json(
    account: Any, figures: dict[str, Any], positions: list[dict[str, Any]]
) -> dict[str, Any]:
    """Account -> ``DetailedAccount`` of ``GET /api/v1/account``.

    ``figures`` adds to :func:`account_summary_json`'s: equity, initial/maintenance margin
    requirements (Decimals).
    """
    out = account_summary_json(account, figures)
    equity = figures["equity"]
    out.update(
        {
            "account_index": account.index,
            "name": "",
            "description": "",
            "can_invite": False,
            "referral_points_percentage": "",
            "can_rfq": False,
            "can_rfq_market_ids": None,
            "created_at": figures.get("created_at", 0),
            "metadata": {"color": ""},
            "positions": positions,
            "assets": [usdc_asset_json(account.collateral, equity)],
            "total_asset_value": dec(equity, USDC_DECIMALS),
            "cross_asset_value": dec(equity, USDC_DECIMALS),
            "cross_initial_margin_requirement": dec(
                figures["initial_margin_requirement"], USDC_DECIMALS
            ),
            "cross_maintenance_margin_requirement": dec(
                figures["maintenance_margin_requirement"], USDC_DECIMALS
            ),
            "shares": [],
            "pending_unlocks": [],
            "approved_integrators": [],
        }
    )
    return out


def user_stats_json(figures: dict[str, Decimal]) -> dict[str, Any]:
    """Account figures -> ``stats`` of the ``user_stats`` channel (cross = total: no isolated)."""
    block = {
        "collateral": dec(figures["collateral"], USDC_DECIMALS),
        "portfolio_value": dec(figures["equity"], USDC_DECIMALS),
        "leverage": dec(figures["leverage"], 2),
        "available_balance": dec(figures["available_balance"], USDC_DECIMALS),
        "margin_usage": dec(figures["margin_usage"], 2),
        "buying_power": "0",
    }
    return {
        "account_trading_mode": 0,
        **block,
        "cross_stats": dict(block),
        "total_stats": dict(block),
    }
