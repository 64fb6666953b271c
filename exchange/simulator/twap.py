"""TWAP orders (type 6): the parent never rests; it is sliced into IOC "twap-sub" children.

Lighter does not document the cadence, so the simulator sends one slice every
`SimConfig.twap_slice_ms` (the first on arrival) until OrderExpiry, each
`remaining / slices left` (rounded up) at the parent's Price as the worst acceptable price.
The parent shows `trigger_status` "twap"; it ends `filled`, or `canceled-expired` at its expiry.
"""

from __future__ import annotations

import heapq

from exchange.simulator import orders
from exchange.simulator.constants import TIF_NAMES
from exchange.simulator.state import ExchangeState
from exchange.simulator.types import Order


def start(state: ExchangeState, order: Order) -> None:
    """Admit a TWAP parent and run its first slice now."""
    orders.admit(state, order)
    order.status = "open"
    order.trigger_status = "twap"
    orders.schedule_expiry(state, order)
    state.emit_order(order)
    run_slice(state, order)


def run_due(state: ExchangeState, now_ms: int) -> None:
    """Run every TWAP slice due at or before now_ms."""
    while state.twaps and state.twaps[0][0] <= now_ms:
        _, order_index = heapq.heappop(state.twaps)
        parent = state.live_orders.get(order_index)
        if parent is not None:
            run_slice(state, parent)


def run_slice(state: ExchangeState, parent: Order) -> None:
    """Send one IOC child for this slice's share of the remaining size."""
    slice_ms = state.config.twap_slice_ms
    slices_left = max(1, -(-(parent.order_expiry - state.now_ms) // slice_ms))
    lots = -(-parent.remaining_base_amount // slices_left)
    child = Order(
        order_index=state.next_order_index(),
        client_order_index=0,
        market_id=parent.market_id,
        owner_account_index=parent.owner_account_index,
        is_ask=parent.is_ask,
        type="twap-sub",
        time_in_force=TIF_NAMES[0],
        reduce_only=parent.reduce_only,
        price=parent.price,
        trigger_price=0,
        initial_base_amount=lots,
        remaining_base_amount=lots,
        parent_order_index=parent.order_index,
        self_trade_mode=parent.self_trade_mode,
    )
    orders.admit(state, child)
    orders.execute(state, child)
    parent.filled_base_amount += child.filled_base_amount
    parent.remaining_base_amount -= child.filled_base_amount
    parent.filled_quote_amount += child.filled_quote_amount
    parent.updated_at = state.now_ms
    if parent.remaining_base_amount == 0:
        state.finish(parent, "filled")
        return
    state.emit_order(parent)
    next_at = state.now_ms + slice_ms
    if next_at < parent.order_expiry:
        heapq.heappush(state.twaps, (next_at, parent.order_index))
