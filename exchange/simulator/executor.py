"""Execution of queued transactions by the sequencer (pure).

The payload was validated by `txs.py` at submit time; here only state-dependent outcomes are
decided. A failure that changes nothing raises `orders.ExecError`.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exchange.simulator import orders, twap
from exchange.simulator.constants import (
    CONDITIONAL_TYPES,
    GROUP_OCO,
    GROUP_OTOCO,
    ORDER_TYPE_MARKET,
    ORDER_TYPE_NAMES,
    ORDER_TYPE_TWAP,
    TIF_IOC,
    TIF_NAMES,
    TIF_POST_ONLY,
    TX_CANCEL_ALL,
    TX_CANCEL_ORDER,
    TX_CHANGE_PUB_KEY,
    TX_CREATE_GROUPED,
    TX_CREATE_ORDER,
    TX_CREATE_SUB_ACCOUNT,
    TX_MODIFY_ORDER,
    TX_UPDATE_LEVERAGE,
    TX_UPDATE_MARGIN,
    TX_WITHDRAW,
)
from exchange.simulator.margin import (
    TEN_THOUSAND,
    available_balance,
    below_initial,
    position_value,
)
from exchange.simulator.orders import ExecError
from exchange.simulator.state import ExchangeState
from exchange.simulator.txs import OrderRequest, attributes, public_key_hex
from exchange.simulator.types import Account, ApiKey, Order
from exchange.units import from_int


@dataclass(frozen=True, slots=True)
class QueuedTx:
    """A tx accepted by the API, waiting for its execution time."""

    tx_hash: str
    tx_type: int
    info: dict[str, Any]
    account_index: int
    api_key_index: int
    nonce: int
    payload: Any


def latency_class(state: ExchangeState, tx_type: int, payload: Any) -> str:
    """Latency class of a tx: "taker" if it can trade on arrival, "cancel", else "maker"."""
    if tx_type in (TX_CANCEL_ORDER, TX_CANCEL_ALL, TX_MODIFY_ORDER):
        return "cancel"
    if tx_type == TX_CREATE_GROUPED:
        grouping, reqs = payload
        payload = None if grouping == GROUP_OCO else reqs[0]
    if tx_type in (TX_CREATE_ORDER, TX_CREATE_GROUPED) and payload is not None:
        req: OrderRequest = payload
        if req.type_code in CONDITIONAL_TYPES or req.tif_code == TIF_POST_ONLY:
            return "maker"
        if req.type_code == ORDER_TYPE_MARKET or req.tif_code == TIF_IOC:
            return "taker"
        book = state.books[req.market_id]
        return "taker" if book.crosses(is_ask=req.is_ask, price=req.price) else "maker"
    return "maker"


def build_order(state: ExchangeState, account_index: int, req: OrderRequest, nonce: int) -> Order:
    """A new Order from a validated request; conditional orders wait on the mark price."""
    conditional = req.type_code in CONDITIONAL_TYPES
    return Order(
        order_index=state.next_order_index(),
        client_order_index=req.client_order_index,
        market_id=req.market_id,
        owner_account_index=account_index,
        is_ask=req.is_ask,
        type=ORDER_TYPE_NAMES[req.type_code],
        time_in_force=TIF_NAMES[req.tif_code],
        reduce_only=req.reduce_only,
        price=req.price,
        trigger_price=req.trigger_price,
        initial_base_amount=req.base_amount,
        remaining_base_amount=req.base_amount,
        order_expiry=req.order_expiry,
        nonce=nonce,
        trigger_status="mark-price" if conditional else "na",
        self_trade_mode=req.self_trade_mode,
        position_tied=conditional and req.base_amount == 0,
    )


def execute(state: ExchangeState, tx: QueuedTx) -> None:
    """Apply one queued tx to the state (events accumulate in state.events)."""
    account = state.accounts[tx.account_index]
    info = tx.info
    if tx.tx_type == TX_CREATE_ORDER:
        order = build_order(state, account.index, tx.payload, tx.nonce)
        if tx.payload.type_code == ORDER_TYPE_TWAP:
            twap.start(state, order)
        else:
            orders.place(state, order)
            orders.check_triggers(state, order.market_id)
    elif tx.tx_type == TX_CREATE_GROUPED:
        _grouped(state, account, tx)
    elif tx.tx_type == TX_CANCEL_ORDER:
        orders.cancel(state, account.index, info["MarketIndex"], info["Index"])
    elif tx.tx_type == TX_MODIFY_ORDER:
        orders.modify(
            state,
            account.index,
            info["MarketIndex"],
            info["Index"],
            base_amount=info["BaseAmount"],
            price=info["Price"],
            trigger_price=info["TriggerPrice"],
            version=attributes(info).get(8, 0),
        )
        orders.check_triggers(state, info["MarketIndex"])
    elif tx.tx_type == TX_CANCEL_ALL:
        _cancel_all(state, account, info)
    elif tx.tx_type == TX_UPDATE_LEVERAGE:
        _update_leverage(state, account, info)
    elif tx.tx_type == TX_UPDATE_MARGIN:
        _update_margin(state, account, info)
    elif tx.tx_type == TX_CHANGE_PUB_KEY:
        key_index = info["ApiKeyIndex"]
        account.api_keys[key_index] = ApiKey(account.index, key_index, public_key_hex(info))
    elif tx.tx_type == TX_CREATE_SUB_ACCOUNT:
        _create_sub_account(state, account)
    elif tx.tx_type == TX_WITHDRAW:
        amount = from_int(info["Amount"], 6)
        if available_balance(state, account) < amount:
            raise ExecError(21301, "not enough collateral")
        account.collateral -= amount
        state.emit_balance(account)


MAX_SUB_ACCOUNTS = 100


def _create_sub_account(state: ExchangeState, master: Account) -> None:
    """A new empty account under the same L1 address (it registers keys with ChangePubKey)."""
    siblings = [a for a in state.accounts.values() if a.l1_address == master.l1_address]
    if len(siblings) > MAX_SUB_ACCOUNTS:
        raise ExecError(21129, "too many sub accounts")
    index = state.next_account_index()
    state.accounts[index] = Account(
        index, master.l1_address, Decimal(0), master.tier, created_at=state.now_ms
    )
    state.emit_balance(state.accounts[index])


def _grouped(state: ExchangeState, account: Account, tx: QueuedTx) -> None:
    grouping, reqs = tx.payload
    for req in reqs:
        if req.client_order_index and (account.index, req.client_order_index) in (
            state.live_by_client
        ):
            raise ExecError(21728, "client order index already exists")
    built = [build_order(state, account.index, r, tx.nonce) for r in reqs]
    if grouping == GROUP_OCO:
        first, second = built
        first.to_cancel_order_id_0 = second.order_index
        second.to_cancel_order_id_0 = first.order_index
        orders.place(state, first)
        orders.place(state, second)
    else:
        parent, kids = built[0], built[1:]
        for slot, kid in enumerate(kids):
            kid.trigger_status = "parent-order"
            kid.position_tied = False
            kid.parent_order_index = parent.order_index
            setattr(parent, f"to_trigger_order_id_{slot}", kid.order_index)
        if grouping == GROUP_OTOCO:
            kids[0].to_cancel_order_id_0 = kids[1].order_index
            kids[1].to_cancel_order_id_0 = kids[0].order_index
        for kid in kids:
            orders.place(state, kid)
        orders.place(state, parent)
    orders.check_triggers(state, built[0].market_id)


def _cancel_all(state: ExchangeState, account: Account, info: dict[str, Any]) -> None:
    tif = info["TimeInForce"]
    if tif == 0:
        market_attr = attributes(info).get(5, 255)
        orders.cancel_all(state, account.index, None if market_attr == 255 else market_attr)
    elif tif == 1:
        account.cancel_all_time = info["Time"]
        heapq.heappush(state.scheduled_cancel_alls, (info["Time"], account.index))
    else:
        account.cancel_all_time = 0


def _update_leverage(state: ExchangeState, account: Account, info: dict[str, Any]) -> None:
    market_id, imf, mode = info["MarketIndex"], info["InitialMarginFraction"], info["MarginMode"]
    pos = state.position(account, market_id)
    has_orders = any(o.market_id == market_id for o in state.account_live[account.index].values())
    if mode != pos.margin_mode and (pos.size or has_orders):
        raise ExecError(
            21132, "margin mode change on a market with position or open order is not allowed"
        )
    before = (account.leverage.get(market_id), pos.initial_margin_fraction)
    account.leverage[market_id] = imf
    account.margin_modes[market_id] = mode
    pos.initial_margin_fraction, pos.margin_mode = imf, mode
    if below_initial(state, account):
        if before[0] is None:
            account.leverage.pop(market_id)
        else:
            account.leverage[market_id] = before[0]
        pos.initial_margin_fraction = before[1]
        raise ExecError(21508, "account is below initial margin, can't execute transaction")
    state.emit_position(account, market_id)


def _update_margin(state: ExchangeState, account: Account, info: dict[str, Any]) -> None:
    market_id = info["MarketIndex"]
    pos = state.position(account, market_id)
    if pos.margin_mode != 1:
        raise ExecError(21613, "invalid margin mode")
    amount = from_int(info["USDCAmount"], 6)
    if info["Direction"] == 1:
        if available_balance(state, account) < amount:
            raise ExecError(21301, "not enough collateral")
        account.collateral -= amount
        pos.allocated_margin += amount
    else:
        spec = state.markets[market_id]
        value = position_value(spec, pos, state.reference[market_id])
        required = value * pos.initial_margin_fraction / TEN_THOUSAND
        if pos.allocated_margin - amount < max(required, Decimal(0)):
            raise ExecError(21508, "account is below initial margin, can't execute transaction")
        pos.allocated_margin -= amount
        account.collateral += amount
    state.emit_balance(account)
    state.emit_position(account, market_id)
