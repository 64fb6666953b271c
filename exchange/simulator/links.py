"""Links between orders: OTO/OTOCO children sized by their parent, OCO partners, and
position-tied TP/SL orders that die with the position (lighter-api.md §3.7). Pure.

A parent's children and their cancellation when it ends unfilled live on `ExchangeState`
(`children`, used by `finish`), so this module depends on the state and never the reverse."""

from __future__ import annotations

from exchange.simulator.state import ExchangeState
from exchange.simulator.types import Account, Order


def size_children(state: ExchangeState, parent: Order) -> None:
    """Arm the parent's children with the parent's filled size (they wait for the mark price)."""
    for child in state.children(parent):
        if child.trigger_status not in ("parent-order", "mark-price"):
            continue
        child.initial_base_amount = parent.filled_base_amount
        child.remaining_base_amount = parent.filled_base_amount - child.filled_base_amount
        child.trigger_status = "mark-price"
        child.updated_at = state.now_ms
        state.conditional[child.market_id][child.order_index] = child
        state.emit_order(child)


def cancel_partner(state: ExchangeState, order: Order) -> None:
    """The other leg of an OCO pair is cancelled when this one triggers."""
    partner = state.live_orders.get(order.to_cancel_order_id_0)
    if partner is not None:
        state.finish(partner, "canceled-oco")


def cancel_stale_tied(state: ExchangeState, account: Account, market_id: int) -> None:
    """Position-tied orders are cancelled once the position is flat or flipped."""
    tied_indexes = state.tied.get(account.index)
    if not tied_indexes:
        return
    tied = [state.live_orders[i] for i in sorted(tied_indexes) if i in state.live_orders]
    tied = [o for o in tied if o.market_id == market_id]
    pos = account.positions.get(market_id)
    sign = pos.sign if pos is not None else 0
    for order in tied:
        closes_long = order.is_ask
        if sign == 0 or (closes_long and sign < 0) or (not closes_long and sign > 0):
            state.finish(order, "canceled")
