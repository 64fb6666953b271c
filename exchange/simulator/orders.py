"""Order lifecycle at execution time: place, trigger, cancel, modify (pure).

API-level validation happened in `txs.py`; what can only be decided when the sequencer runs
the tx (post-only crossing, reduce-only direction, margin at that moment, slippage) ends as a
`canceled-*` order status, exactly like Lighter. Failures that create no order raise `ExecError`,
which the engine records as tx status 0 with the message in event_info "ae".
"""

from __future__ import annotations

import heapq

from exchange.simulator import links
from exchange.simulator.constants import CLIENT_INDEX_LIMIT, TIF_NAMES
from exchange.simulator.margin import can_afford_order
from exchange.simulator.matching import STOP_SELF_TRADE, STOP_SLIPPAGE, match, reducible_lots
from exchange.simulator.state import ExchangeState
from exchange.simulator.types import Order

MARKET_STYLE = frozenset({"market", "stop-loss", "take-profit"})
STOP_TYPES = frozenset({"stop-loss", "stop-loss-limit"})


class ExecError(Exception):
    """A tx failed in the sequencer; `message` is Lighter's text (Appendix A)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


def admit(state: ExchangeState, order: Order) -> None:
    """Stamp a new order and register it as live (21728 if its client index is taken)."""
    key = (order.owner_account_index, order.client_order_index)
    if order.client_order_index and key in state.live_by_client:
        raise ExecError(21728, "client order index already exists")
    order.created_at = order.updated_at = state.now_ms
    order.transaction_time = state.transaction_time_us()
    order.block_height = state.block_height
    state.accounts[order.owner_account_index].total_order_count += 1
    state.track_live(order)


def place(state: ExchangeState, order: Order) -> None:
    """A new order reaches the sequencer: rest as conditional, or execute now."""
    admit(state, order)
    if order.trigger_status in ("mark-price", "parent-order"):
        order.status = "pending"
        if order.trigger_status == "mark-price":
            state.conditional[order.market_id][order.order_index] = order
        schedule_expiry(state, order)
        state.emit_order(order)
        return
    execute(state, order)


def execute(state: ExchangeState, order: Order) -> None:
    """Run a live, untriggered-or-triggered order through the book and settle its status."""
    book = state.books[order.market_id]
    is_market = order.type in MARKET_STYLE
    if order.reduce_only:
        allowed = reducible_lots(state, order)
        if allowed == 0:
            state.finish(order, "canceled-reduce-only")
            return
        if order.remaining_base_amount == 0 or order.remaining_base_amount > allowed:
            # BaseAmount 0 means "the whole position"; oversize reduce-only orders are trimmed.
            order.remaining_base_amount = allowed
            order.initial_base_amount = order.filled_base_amount + allowed
    if order.time_in_force == TIF_NAMES[2] and book.crosses(is_ask=order.is_ask, price=order.price):
        state.finish(order, "canceled-post-only")
        return
    account = state.accounts[order.owner_account_index]
    if not order.reduce_only and not can_afford_order(
        state, account, order.market_id, is_ask=order.is_ask, lots=order.remaining_base_amount
    ):
        state.finish(order, "canceled-margin-not-allowed")
        return
    order.status = "in-progress"
    stop = match(state, order, is_market=is_market)
    if stop == STOP_SELF_TRADE:
        state.finish(order, "canceled-self-trade")
    elif order.remaining_base_amount == 0:
        state.finish(order, "filled")
    elif is_market:
        status = (
            "canceled-too-much-slippage"
            if stop == STOP_SLIPPAGE
            else "canceled-not-enough-liquidity"
        )
        state.finish(order, status)
    elif order.time_in_force == TIF_NAMES[0]:
        state.finish(order, "canceled")
    else:
        order.status = "open"
        order.updated_at = state.now_ms
        book.add(order)
        schedule_expiry(state, order)
        state.emit_order(order)


def schedule_expiry(state: ExchangeState, order: Order) -> None:
    """Queue the order's OrderExpiry (if any) for expire_due()."""
    if order.order_expiry > 0:
        heapq.heappush(state.expiries, (order.order_expiry, order.order_index))


def expire_due(state: ExchangeState, now_ms: int) -> None:
    """Cancel live orders whose OrderExpiry has passed (status canceled-expired)."""
    while state.expiries and state.expiries[0][0] <= now_ms:
        _, order_index = heapq.heappop(state.expiries)
        order = state.live_orders.get(order_index)
        if order is not None and 0 < order.order_expiry <= now_ms:
            state.finish(order, "canceled-expired")


def should_trigger(order: Order, mark: int) -> bool:
    """SL fires when the mark moves against the position it closes; TP when it moves for it."""
    is_stop = order.type in STOP_TYPES
    if order.is_ask:  # closes a long
        return mark <= order.trigger_price if is_stop else mark >= order.trigger_price
    return mark >= order.trigger_price if is_stop else mark <= order.trigger_price


def check_triggers(state: ExchangeState, market_id: int) -> None:
    """Fire every conditional order of the market whose trigger the mark price crossed."""
    pending = state.conditional[market_id]
    if not pending:
        return
    mark = state.reference[market_id]
    for order in [o for o in pending.values() if should_trigger(o, mark)]:
        if order.order_index in pending:
            fire(state, order)


def fire(state: ExchangeState, order: Order) -> None:
    """Turn a triggered conditional order into a live market/limit order and execute it."""
    state.conditional[order.market_id].pop(order.order_index, None)
    order.trigger_status = "na"
    order.trigger_time = state.now_ms
    links.cancel_partner(state, order)
    if order.position_tied:
        order.remaining_base_amount = 0  # sized to the whole position by execute()
    execute(state, order)


def find_live(state: ExchangeState, account_index: int, index: int) -> Order:
    """A live order by client index (< 2**48) or exchange order index (>= 2**48)."""
    if index >= CLIENT_INDEX_LIMIT:
        order = state.live_orders.get(index)
        if order is not None and order.owner_account_index != account_index:
            raise ExecError(21707, "account is not owner of the order")
    else:
        order = state.live_by_client.get((account_index, index))
    if order is None:
        raise ExecError(21715, "given order is not an active order")
    return order


def cancel(state: ExchangeState, account_index: int, market_id: int, index: int) -> None:
    """CancelOrder: the order ends with status `canceled`."""
    order = find_live(state, account_index, index)
    if order.market_id != market_id:
        raise ExecError(21715, "given order is not an active order")
    state.finish(order, "canceled")


def cancel_all(state: ExchangeState, account_index: int, market_id: int | None) -> None:
    """Cancel every live order of the account (optionally only one market)."""
    live = list(state.account_live.get(account_index, {}).values())
    for order in live:
        if (market_id is None or order.market_id == market_id) and order.is_live:
            state.finish(order, "canceled")


def modify(
    state: ExchangeState,
    account_index: int,
    market_id: int,
    index: int,
    *,
    base_amount: int,
    price: int,
    trigger_price: int,
    version: int,
) -> None:
    """ModifyOrder: new total size, price and trigger; a price change or a size increase loses
    time priority and may trade immediately. With `version` > 0 a stale version is rejected."""
    order = find_live(state, account_index, index)
    if order.market_id != market_id:
        raise ExecError(21715, "given order is not an active order")
    if order.type == "twap" or (version and version <= order.order_version):
        raise ExecError(21743, "invalid order info")
    order.order_version = version or order.order_version + 1
    new_remaining = base_amount - order.filled_base_amount
    if new_remaining <= 0:
        state.finish(order, "canceled")
        return
    order.updated_at = state.now_ms
    if order.status == "pending":
        order.initial_base_amount = base_amount
        order.remaining_base_amount = new_remaining
        order.price = price
        order.trigger_price = trigger_price or order.trigger_price
        state.emit_order(order)
        return
    side = state.books[order.market_id].side(is_ask=order.is_ask)
    if price == order.price and new_remaining <= order.remaining_base_amount:
        side.reduce(order, order.remaining_base_amount - new_remaining)
        order.remaining_base_amount = new_remaining
        order.initial_base_amount = base_amount
        state.emit_order(order)
        return
    side.remove(order)
    order.status = "in-progress"
    order.price = price
    order.initial_base_amount = base_amount
    order.remaining_base_amount = new_remaining
    execute(state, order)
