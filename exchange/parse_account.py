"""Lighter account JSON -> typed views: accounts, positions, orders, trades and fills."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exchange.parse_base import Json, as_list, dec, dec_or_none, to_int
from exchange.types import (
    AccountAsset,
    AccountInfo,
    FillInfo,
    LiquidityRole,
    MarginMode,
    OrderInfo,
    OrderSide,
    Page,
    PositionInfo,
    PositionSide,
    SubAccount,
    Trade,
)


def _leverage_from_imf(raw: Any) -> Decimal:
    imf = dec(raw)
    if imf <= 0:
        return Decimal(0)
    # REST sends a percent ("10.00" = 10 %), some stream frames a fraction ("0.0500" = 5 %);
    # Lighter caps leverage at 50x (IMF >= 2 %), so a value below 1 can only be a fraction.
    fraction = imf if imf < 1 else imf / 100
    return (1 / fraction).quantize(Decimal("0.01"))


def parse_position(row: Json) -> PositionInfo:
    """An AccountPosition (REST account or positions stream)."""
    size = abs(dec(row.get("position")))
    sign = to_int(row.get("sign"), 1)
    if size == 0:
        side = PositionSide.FLAT
    else:
        side = PositionSide.SHORT if sign < 0 else PositionSide.LONG
    margin_mode = MarginMode.ISOLATED if to_int(row.get("margin_mode")) == 1 else MarginMode.CROSS
    return PositionInfo(
        market_id=to_int(row.get("market_id")),
        symbol=str(row.get("symbol", "")),
        side=side,
        size=size,
        avg_entry_price=dec(row.get("avg_entry_price")),
        unrealized_pnl=dec(row.get("unrealized_pnl")),
        realized_pnl=dec(row.get("realized_pnl")),
        liquidation_price=dec(row.get("liquidation_price")),
        margin_mode=margin_mode,
        leverage=_leverage_from_imf(row.get("initial_margin_fraction")),
        position_value=dec(row.get("position_value")),
        allocated_margin=dec(row.get("allocated_margin")),
        open_order_count=to_int(row.get("open_order_count")),
    )


def parse_asset(row: Json) -> AccountAsset:
    """One asset of an account (balances as Decimal)."""
    return AccountAsset(
        asset_id=to_int(row.get("asset_id")),
        symbol=str(row.get("symbol", "")),
        balance=dec(row.get("balance")),
        locked_balance=dec(row.get("locked_balance")),
        margin_balance=dec_or_none(row.get("margin_balance")),
    )


def parse_account(row: Json) -> AccountInfo:
    """A DetailedAccount row of GET /account."""
    positions = tuple(parse_position(p) for p in row.get("positions") or ())
    collateral = dec(row.get("collateral"))
    total_value = dec_or_none(row.get("total_asset_value"))
    equity = (
        total_value
        if total_value is not None
        else collateral + sum((p.unrealized_pnl for p in positions), Decimal(0))
    )
    return AccountInfo(
        account_index=to_int(row.get("account_index", row.get("index"))),
        l1_address=str(row.get("l1_address", "")),
        collateral=collateral,
        available_balance=dec(row.get("available_balance")),
        equity=equity,
        positions=positions,
        cancel_all_time_ms=to_int(row.get("cancel_all_time")),
        assets=tuple(parse_asset(a) for a in row.get("assets") or ()),
    )


def parse_accounts(payload: Json) -> list[AccountInfo]:
    """GET /account body -> accounts."""
    return [parse_account(row) for row in as_list(payload, "accounts")]


def parse_sub_accounts(payload: Json) -> list[SubAccount]:
    """GET /accountsByL1Address body -> accounts, master (lowest index) first."""
    accounts = [
        SubAccount(
            account_index=to_int(row.get("index", row.get("account_index"))),
            l1_address=str(row.get("l1_address", payload.get("l1_address", ""))),
            account_type=to_int(row.get("account_type")),
            collateral=dec(row.get("collateral")),
            available_balance=dec(row.get("available_balance")),
        )
        for row in as_list(payload, "sub_accounts")
    ]
    return sorted(accounts, key=lambda a: a.account_index)


def parse_order(row: Json) -> OrderInfo:
    """An Order (REST Orders.orders[] or an account orders stream)."""
    side_text = row.get("side")
    if side_text in ("buy", "sell"):
        side = OrderSide(side_text)
    else:
        side = OrderSide.SELL if row.get("is_ask") else OrderSide.BUY
    return OrderInfo(
        order_index=to_int(row.get("order_index", row.get("order_id"))),
        client_order_index=to_int(row.get("client_order_index", row.get("client_order_id"))),
        market_id=to_int(row.get("market_index", row.get("market_id"))),
        side=side,
        order_type=str(row.get("type", "limit")),
        time_in_force=str(row.get("time_in_force", "good-till-time")),
        price=dec(row.get("price")),
        initial_size=dec(row.get("initial_base_amount")),
        remaining_size=dec(row.get("remaining_base_amount")),
        filled_size=dec(row.get("filled_base_amount")),
        filled_quote=dec(row.get("filled_quote_amount")),
        status=str(row.get("status", "")),
        reduce_only=bool(row.get("reduce_only", False)),
        trigger_price=dec(row.get("trigger_price")),
        owner_account_index=to_int(row.get("owner_account_index")),
        timestamp_ms=to_int(row.get("timestamp", row.get("created_at"))),
        updated_at_ms=to_int(row.get("updated_at")),
        order_expiry_ms=to_int(row.get("order_expiry")),
        symbol=row.get("market_symbol"),
    )


def parse_orders(payload: Json) -> Page[OrderInfo]:
    """Orders body (active, inactive, by client index) -> one page of orders."""
    orders = tuple(parse_order(row) for row in as_list(payload, "orders"))
    return Page(items=orders, next_cursor=payload.get("next_cursor") or None)


def parse_trade(row: Json) -> Trade:
    """A Trade (REST trades/recentTrades or a trade stream)."""
    return Trade(
        trade_id=to_int(row.get("trade_id", row.get("trade_id_str"))),
        market_id=to_int(row.get("market_id")),
        price=dec(row.get("price")),
        size=dec(row.get("size")),
        usd_amount=dec(row.get("usd_amount")),
        ask_order_index=to_int(row.get("ask_id")),
        bid_order_index=to_int(row.get("bid_id")),
        ask_client_order_index=to_int(row.get("ask_client_id")),
        bid_client_order_index=to_int(row.get("bid_client_id")),
        ask_account_index=to_int(row.get("ask_account_id")),
        bid_account_index=to_int(row.get("bid_account_id")),
        is_maker_ask=bool(row.get("is_maker_ask", False)),
        timestamp_ms=to_int(row.get("timestamp")),
        trade_type=str(row.get("type", "trade")),
        tx_hash=str(row.get("tx_hash", "")),
        taker_fee_rate_e6=to_int(row.get("taker_fee")),
        maker_fee_rate_e6=to_int(row.get("maker_fee")),
    )


def parse_trades(payload: Json) -> Page[Trade]:
    """Trades body -> trades sorted oldest first (the server does not promise an order)."""
    trades = sorted(
        (parse_trade(row) for row in as_list(payload, "trades")),
        key=lambda t: (t.timestamp_ms, t.trade_id),
    )
    return Page(items=tuple(trades), next_cursor=payload.get("next_cursor") or None)


def parse_fill(row: Json | Trade, account_index: int) -> FillInfo | None:
    """The trade as a fill of `account_index`, None when that account is not a party."""
    trade = row if isinstance(row, Trade) else parse_trade(row)
    if trade.ask_account_index == account_index:
        side, maker = OrderSide.SELL, trade.is_maker_ask
        order_index, client_index = trade.ask_order_index, trade.ask_client_order_index
    elif trade.bid_account_index == account_index:
        side, maker = OrderSide.BUY, not trade.is_maker_ask
        order_index, client_index = trade.bid_order_index, trade.bid_client_order_index
    else:
        return None
    return FillInfo(
        trade_id=trade.trade_id,
        market_id=trade.market_id,
        account_index=account_index,
        order_index=order_index,
        client_order_index=client_index,
        side=side,
        role=LiquidityRole.MAKER if maker else LiquidityRole.TAKER,
        price=trade.price,
        size=trade.size,
        quote=trade.usd_amount,
        fee_rate_e6=trade.maker_fee_rate_e6 if maker else trade.taker_fee_rate_e6,
        timestamp_ms=trade.timestamp_ms,
        trade_type=trade.trade_type,
    )
