"""Engine state -> REST bodies and websocket snapshots. REST and WS share these builders, so the
same object always has the same shape on both (house style rule 9).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exchange.simulator import serialize as ser
from exchange.simulator.engine import Engine
from exchange.simulator.types import Account, MarketSpec, MarketStats, Order, SimError, Trade
from exchange.units import from_int

CANDLE_RESOLUTIONS_MS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "1w": 604_800_000,
}


def markets(engine: Engine) -> list[MarketSpec]:
    """All configured markets, by id."""
    return engine.markets()


def find_account(engine: Engine, account_index: int) -> Account | None:
    """The (non-system) account with this index, or None."""
    try:
        return engine.account(account_index)
    except SimError:
        return None


def all_accounts(engine: Engine) -> list[Account]:
    """Every user account (the liquidity agent's system account excluded)."""
    accounts = engine.state.accounts.values()
    return sorted((a for a in accounts if not a.is_system), key=lambda a: a.index)


def position_value(engine: Engine, account: Account, market_id: int) -> Decimal:
    """Absolute notional of one position at the mark price."""
    position = account.positions.get(market_id)
    if position is None or position.size == 0:
        return Decimal(0)
    spec = engine.market(market_id)
    return spec.units.quote(position.size, engine.mark_price(market_id))


def account_volume(engine: Engine, account_index: int) -> dict[str, Any]:
    """Trade counts and volumes of ``account_all`` (from the last 1,000 trades)."""
    trades, _ = engine.trades(account_index=account_index, limit=1000)
    now = engine.now_ms
    out: dict[str, Any] = {}
    for name, window_ms in (
        ("daily", 86_400_000),
        ("weekly", 7 * 86_400_000),
        ("monthly", 30 * 86_400_000),
        ("total", None),
    ):
        rows = [t for t in trades if window_ms is None or t.timestamp >= now - window_ms]
        out[f"{name}_trades_count"] = len(rows)
        out[f"{name}_volume"] = float(sum((t.usd_amount for t in rows), Decimal(0)))
    return out


def market(engine: Engine, market_id: int) -> MarketSpec | None:
    """The market with ``market_id`` or None."""
    return engine.config.market(market_id)


def stats_values(engine: Engine, spec: MarketSpec) -> dict[str, Any]:
    """MarketStats in the Decimal vocabulary of :mod:`serialize`."""
    stats: MarketStats = engine.market_stats(spec.market_id)
    pd = spec.price_decimals
    asks, bids = engine.book_levels(spec.market_id, 1)
    mid = stats.mark_price
    if asks and bids:
        mid = (asks[0][0] + bids[0][0]) // 2
    return {
        "last_trade_price": from_int(stats.last_trade_price, pd),
        "mark_price": from_int(stats.mark_price, pd),
        "index_price": from_int(stats.index_price, pd),
        "mid_price": from_int(mid, pd),
        "daily_trades_count": stats.daily_trades_count,
        "daily_base_token_volume": stats.daily_base_volume,
        "daily_quote_token_volume": stats.daily_quote_volume,
        "daily_price_low": from_int(stats.daily_price_low, pd),
        "daily_price_high": from_int(stats.daily_price_high, pd),
        "daily_price_change": stats.daily_price_change_pct,
        "open_interest": stats.open_interest,
        "current_funding_rate": stats.current_funding_rate * 100,
        "funding_rate": stats.current_funding_rate * 100,
        "funding_timestamp": stats.funding_timestamp,
    }


def order_json(engine: Engine, order: Order) -> dict[str, Any]:
    """One order in Lighter's shape."""
    spec = engine.config.market(order.market_id)
    assert spec is not None  # orders only exist on configured markets
    return ser.order_json(order, spec)


def orders_by_market(engine: Engine, orders: list[Order]) -> dict[str, list[dict[str, Any]]]:
    """Orders grouped as ``{"<market>": [Order]}`` (account order channels)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for order in orders:
        grouped.setdefault(str(order.market_id), []).append(order_json(engine, order))
    return grouped


def trade_json(engine: Engine, trade: Trade) -> dict[str, Any]:
    """One trade in Lighter's shape."""
    spec = engine.config.market(trade.market_id)
    assert spec is not None
    return ser.trade_json(trade, spec)


def trades_by_market(engine: Engine, trades: list[Trade]) -> dict[str, list[dict[str, Any]]]:
    """Trades grouped as ``{"<market>": [Trade]}``."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for trade in trades:
        grouped.setdefault(str(trade.market_id), []).append(trade_json(engine, trade))
    return grouped


def account_figures(engine: Engine, account: Account) -> dict[str, Any]:
    """Money figures of an account (Decimals) plus order counts."""
    active = engine.active_orders(account.index, None)
    equity = engine.equity(account.index)
    initial, maintenance = engine.margin_requirements(account.index)
    notional = sum(
        (position_value(engine, account, m) for m in account.positions), start=Decimal(0)
    )
    return {
        "equity": equity,
        "collateral": account.collateral,
        "available_balance": engine.available_balance(account.index),
        "initial_margin_requirement": initial,
        "maintenance_margin_requirement": maintenance,
        "margin_usage": (initial / equity * 100) if equity > 0 else Decimal(0),
        "leverage": (notional / equity) if equity > 0 else Decimal(0),
        "total_order_count": len(active),
        "pending_order_count": sum(1 for o in active if o.status == "pending"),
        "created_at": account.created_at,
    }


def positions_json(
    engine: Engine, account: Account, *, active_only: bool = False
) -> list[dict[str, Any]]:
    """``AccountPosition`` rows, one per market the account ever touched."""
    rows = []
    active = engine.active_orders(account.index, None)
    for market_id in sorted(account.positions):
        position = account.positions[market_id]
        if active_only and position.size == 0:
            continue
        spec = engine.config.market(market_id)
        if spec is None:
            continue
        figures = {
            "position_value": position_value(engine, account, market_id),
            "unrealized_pnl": engine.unrealized_pnl(account.index, market_id),
            "liquidation_price": engine.liquidation_price(account.index, market_id),
        }
        open_count = sum(1 for o in active if o.market_id == market_id and o.status == "open")
        rows.append(ser.position_json(position, spec, figures, open_count))
    return rows


def positions_by_market(engine: Engine, account: Account) -> dict[str, dict[str, Any]]:
    """Positions keyed by market id string (account channels)."""
    return {str(row["market_id"]): row for row in positions_json(engine, account)}


def detailed_account(engine: Engine, account: Account, *, active_only: bool) -> dict[str, Any]:
    """``DetailedAccount`` of ``GET /api/v1/account``."""
    figures = account_figures(engine, account)
    return ser.detailed_account_json(
        account, figures, positions_json(engine, account, active_only=active_only)
    )


def account_summary(engine: Engine, account: Account) -> dict[str, Any]:
    """``Account`` of ``accountsByL1Address``."""
    return ser.account_summary_json(account, account_figures(engine, account))


def assets(engine: Engine, account: Account) -> dict[str, dict[str, Any]]:
    """``assets`` keyed by asset id string (USDC only: the simulator has no spot)."""
    equity = engine.equity(account.index)
    return {str(ser.USDC_ASSET_ID): ser.usdc_asset_json(account.collateral, equity)}


def user_stats(engine: Engine, account: Account) -> dict[str, Any]:
    """``stats`` of the ``user_stats`` channel."""
    return ser.user_stats_json(account_figures(engine, account))


def levels_json(spec: MarketSpec, levels: list[tuple[int, int]]) -> list[dict[str, str]]:
    """Book levels -> ``[{price, size}]`` with the market's exact decimals."""
    return [
        {
            "price": ser.fixed(price, spec.price_decimals),
            "size": ser.fixed(size, spec.size_decimals),
        }
        for price, size in levels
    ]


def position_funding_json(engine: Engine, funding: Any) -> dict[str, Any]:
    """PositionFunding -> the row of ``positionFunding`` and ``account_all.funding_histories``."""
    spec = engine.market(funding.market_id)
    return {
        "timestamp": funding.timestamp_s,
        "market_id": funding.market_id,
        "funding_id": funding.funding_id,
        "change": ser.dec(funding.change, ser.USDC_DECIMALS),
        "discount": "0.000000",
        "rate": ser.dec(funding.rate * 100, 4),
        "position_size": ser.fixed(funding.position_size, spec.size_decimals),
        "position_side": funding.position_side,
    }


def funding_histories(engine: Engine, account_index: int) -> dict[str, list[dict[str, Any]]]:
    """The account's recent funding payments grouped by market (``account_all``)."""
    rows, _ = engine.position_fundings(account_index, limit=50)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row.market_id), []).append(position_funding_json(engine, row))
    return grouped


def account_market(
    engine: Engine,
    account: Account,
    market_id: int,
    *,
    orders: list[Order] | None = None,
    trades: list[Trade] | None = None,
) -> dict[str, Any]:
    """``account_market`` payload; the snapshot (None lists) carries live orders and recent
    trades, updates carry what changed."""
    if orders is None:
        orders = engine.active_orders(account.index, market_id)
    if trades is None:
        trades, _ = engine.trades(market_id=market_id, account_index=account.index, limit=50)
    rows = {row["market_id"]: row for row in positions_json(engine, account)}
    fundings, _ = engine.position_fundings(account.index, market_id=market_id, limit=50)
    return {
        "account": account.index,
        "assets": None,  # perp markets only
        "funding_history": [position_funding_json(engine, f) for f in fundings],
        "orders": [order_json(engine, o) for o in orders],
        "position": rows.get(market_id),
        "trades": [trade_json(engine, t) for t in trades],
    }


def candle_json(spec: MarketSpec, candle: Any) -> dict[str, Any]:
    """Candle -> ``{t,o,h,l,c,v,V,i}`` with float prices like Lighter."""
    pd = spec.price_decimals
    return {
        "t": candle.t,
        "o": float(from_int(candle.o, pd)),
        "h": float(from_int(candle.h, pd)),
        "l": float(from_int(candle.l, pd)),
        "c": float(from_int(candle.c, pd)),
        "v": float(candle.v),
        "V": float(candle.quote_volume),
        "i": candle.last_trade_id,
    }
