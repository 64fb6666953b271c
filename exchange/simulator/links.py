"""Links between orders: OTO/OTOCO children sized by their parent, OCO partners, and
position-tied TP/SL orders that die with the position (lighter-api.md §3.7). Pure."""

from __future__ import annotations

from exchange.simulator.state import ExchangeState
from exchange.simulator.types import Account, Order


def children(state: ExchangeState, parent: Order) -> list[Order]:
    """Live children waiting on `parent`."""
    out = []
    for child_index in (parent.to_trigger_order_id_0, parent.to_trigger_order_id_1):
        child = state.live_orders.get(child_index) if child_index else None
        if child is not None and child.parent_order_index == parent.order_index:
            out.append(child)
    return out


def size_children(state: ExchangeState, parent: Order) -> None:
    """Arm the parent's children with the parent's filled size (they wait for the mark price)."""
    for child in children(state, parent):
        if child.trigger_status not in ("parent-order", "mark-price"):
            continue
        child.initial_base_amount = parent.filled_base_amount
        child.remaining_base_amount = parent.filled_base_amount - child.filled_base_amount
        child.trigger_status = "mark-price"
        child.updated_at = state.now_ms
        state.conditional[child.market_id][child.order_index] = child
        state.emit_order(child)


def cancel_children(state: ExchangeState, parent: Order) -> None:
    """A parent that ends without any fill takes its waiting children with it."""
    if parent.filled_base_amount:
        return
    for child in children(state, parent):
        if child.trigger_status == "parent-order":
            state.finish(child, "canceled-child")


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
