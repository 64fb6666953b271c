"""Price-time priority matching of one taker order against a market's book (pure).

Self-trade handling follows Lighter's modes (attribute "6"): 0 expire maker (the default since
2026-05-31: the resting own order is cancelled in full and the taker continues), 1 expire taker,
2 expire both, 3 reduce (both orders shrink by the overlap, no trade is printed).
"""

from __future__ import annotations

from exchange.simulator import links
from exchange.simulator.constants import (
    SELF_TRADE_EXPIRE_BOTH,
    SELF_TRADE_EXPIRE_MAKER,
    SELF_TRADE_EXPIRE_TAKER,
)
from exchange.simulator.margin import apply_fill, charge_fee, fee_for
from exchange.simulator.state import ExchangeState
from exchange.simulator.types import MarketSpec, Order, Trade, TradeExecuted

STOP_SLIPPAGE = "slippage"
STOP_LIQUIDITY = "liquidity"
STOP_SELF_TRADE = "self-trade"


def reducible_lots(state: ExchangeState, order: Order) -> int:
    """How many lots of `order` would reduce its owner's position (0 if it would increase)."""
    pos = state.accounts[order.owner_account_index].positions.get(order.market_id)
    if pos is None or pos.size == 0:
        return 0
    closes = (pos.sign > 0) == order.is_ask
    return pos.size if closes else 0


def match(state: ExchangeState, taker: Order, *, is_market: bool) -> str | None:
    """Fill `taker` against resting orders while prices are acceptable.

    Returns why matching stopped early (STOP_*), or None when the taker is filled or its limit
    price no longer crosses. For market orders `taker.price` is the protection price and bounds
    the AVERAGE execution price (lighter-api.md §4.2; the SDK's slippage helpers assume it):
    levels worse than it still fill while the running average stays within it.
    """
    spec = state.markets[taker.market_id]
    opposite = state.books[taker.market_id].side(is_ask=not taker.is_ask)
    # This taker's fills so far in lots and lots * ticks (integers: the average check is exact).
    filled_lots = filled_ticks = 0
    while taker.remaining_base_amount > 0:
        maker = opposite.best_order()
        if maker is None:
            return STOP_LIQUIDITY
        worse = (maker.price < taker.price) if taker.is_ask else (maker.price > taker.price)
        if worse and not is_market:
            return None
        cap = _average_cap(taker, maker.price, filled_lots, filled_ticks) if worse else None
        if cap == 0:
            return STOP_SLIPPAGE
        if maker.owner_account_index == taker.owner_account_index:
            if _self_trade(state, taker, maker):
                return STOP_SELF_TRADE
            continue
        lots = min(taker.remaining_base_amount, maker.remaining_base_amount)
        if cap is not None:
            lots = min(lots, cap)
        if maker.reduce_only:
            allowed = reducible_lots(state, maker)
            if allowed == 0:
                state.finish(maker, "canceled-reduce-only")
                continue
            lots = min(lots, allowed)
        if taker.reduce_only:
            lots = min(lots, reducible_lots(state, taker))
            if lots == 0:
                return None
        fill(state, spec, taker, maker, lots)
        filled_lots += lots
        filled_ticks += lots * maker.price
    return None


def _average_cap(taker: Order, price: int, filled_lots: int, filled_ticks: int) -> int:
    """Most lots a market taker may take at `price` (worse than its protection price) and keep
    its average execution price within the protection price."""
    if taker.is_ask:  # a sell's average must stay >= protection
        slack, step = filled_ticks - taker.price * filled_lots, taker.price - price
    else:  # a buy's average must stay <= protection
        slack, step = taker.price * filled_lots - filled_ticks, price - taker.price
    return max(0, slack // step)


def _self_trade(state: ExchangeState, taker: Order, maker: Order) -> bool:
    """Apply the taker's self-trade mode; True when the taker must stop."""
    mode = taker.self_trade_mode
    if mode == SELF_TRADE_EXPIRE_MAKER:
        state.finish(maker, "canceled-self-trade")
        return False
    if mode == SELF_TRADE_EXPIRE_TAKER:
        return True
    if mode == SELF_TRADE_EXPIRE_BOTH:
        state.finish(maker, "canceled-self-trade")
        return True
    overlap = min(taker.remaining_base_amount, maker.remaining_base_amount)
    taker.remaining_base_amount -= overlap
    if overlap == maker.remaining_base_amount:
        state.finish(maker, "canceled-self-trade")
    else:
        state.books[maker.market_id].side(is_ask=maker.is_ask).reduce(maker, overlap)
        maker.remaining_base_amount -= overlap
        state.emit_order(maker)
    return taker.remaining_base_amount == 0


def fill(state: ExchangeState, spec: MarketSpec, taker: Order, maker: Order, lots: int) -> Trade:
    """Trade `lots` between `taker` and resting `maker` at the maker's price."""
    ticks = maker.price
    quote = spec.units.quote(lots, ticks)
    taker_acc = state.accounts[taker.owner_account_index]
    maker_acc = state.accounts[maker.owner_account_index]
    taker_ppm = spec.taker_fee_ppm.get(taker_acc.tier, 0)
    maker_ppm = spec.maker_fee_ppm.get(maker_acc.tier, 0)
    taker_fee = fee_for(quote, taker_ppm)
    maker_fee = fee_for(quote, maker_ppm)
    t_eff = apply_fill(
        state, taker_acc, spec, is_buy=not taker.is_ask, lots=lots, ticks=ticks, quote=quote
    )
    m_eff = apply_fill(
        state, maker_acc, spec, is_buy=taker.is_ask, lots=lots, ticks=ticks, quote=quote
    )
    charge_fee(state, taker_acc, taker_acc.positions[spec.market_id], taker_fee)
    charge_fee(state, maker_acc, maker_acc.positions[spec.market_id], maker_fee)

    state.books[maker.market_id].side(is_ask=maker.is_ask).reduce(maker, lots)
    for order in (taker, maker):
        order.remaining_base_amount -= lots
        order.filled_base_amount += lots
        order.filled_quote_amount += quote
        order.updated_at = state.now_ms
    ask, bid = (taker, maker) if taker.is_ask else (maker, taker)
    trade = Trade(
        trade_id=state.next_trade_id(),
        tx_hash=state.tx_hash,
        type="trade",
        market_id=spec.market_id,
        size=lots,
        price=ticks,
        usd_amount=quote,
        ask_id=ask.order_index,
        bid_id=bid.order_index,
        ask_client_id=ask.client_order_index,
        bid_client_id=bid.client_order_index,
        ask_account_id=ask.owner_account_index,
        bid_account_id=bid.owner_account_index,
        is_maker_ask=maker.is_ask,
        block_height=state.block_height,
        timestamp=state.now_ms,
        taker_fee_ppm=taker_ppm,
        maker_fee_ppm=maker_ppm,
        taker_fee=taker_fee,
        maker_fee=maker_fee,
        taker_position_size_before=t_eff.size_before,
        taker_entry_quote_before=t_eff.entry_quote_before,
        taker_initial_margin_fraction_before=t_eff.imf_before,
        taker_position_sign_changed=t_eff.sign_changed,
        maker_position_size_before=m_eff.size_before,
        maker_entry_quote_before=m_eff.entry_quote_before,
        maker_initial_margin_fraction_before=m_eff.imf_before,
        maker_position_sign_changed=m_eff.sign_changed,
        transaction_time=state.transaction_time_us(),
        bid_account_pnl=(m_eff if taker.is_ask else t_eff).realized_pnl,
        ask_account_pnl=(t_eff if taker.is_ask else m_eff).realized_pnl,
        bid_order_version=bid.order_version,
        ask_order_version=ask.order_version,
    )
    state.history.add_trade(trade)
    state.events.append(TradeExecuted(trade))
    if maker.remaining_base_amount == 0:
        state.finish(maker, "filled")
    else:
        state.emit_order(maker)
    tied = state.tied
    for account, order in ((taker_acc, taker), (maker_acc, maker)):
        state.touch(account, spec.market_id)
        if order.to_trigger_order_id_0 or order.to_trigger_order_id_1:
            links.size_children(state, order)
        if tied.get(account.index):
            links.cancel_stale_tied(state, account, spec.market_id)
    return trade
