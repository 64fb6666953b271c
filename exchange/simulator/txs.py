"""API-level checks of signed L2 transactions (lighter-api.md §3), before they are queued.

Signatures are NOT verified: the simulator trusts the signer's tx_info and checks only what the
API checks (account, key, nonce, expiry, fields, market, account health for new orders). Each
failure raises `SimError` with Lighter's code and message (Appendix A); the nonce is then not
consumed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

from exchange.simulator.constants import (
    CLIENT_INDEX_LIMIT,
    CONDITIONAL_TYPES,
    ORDER_TYPE_MARKET,
    ORDER_TYPE_TWAP,
    TIF_GTT,
    TIF_IOC,
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
from exchange.simulator.margin import below_maintenance
from exchange.simulator.state import ExchangeState
from exchange.simulator.types import Account, MarketSpec, SimError

UINT32_MAX = (1 << 32) - 1
# Lighter's windows (lighter-go constants MinOrderExpiryPeriod / MinOrderCancelAllPeriod = 5 min,
# MaxOrderExpiryPeriod 30 days, MaxOrderCancelAllPeriod 15 days); the maxima get a minute of
# slack for the signer's clock, the minima none (a time signed exactly 5 minutes ahead arrives
# with less than 5 minutes left and is refused, as on Lighter).
MIN_ORDER_EXPIRY_MS = 5 * 60_000
MAX_ORDER_EXPIRY_MS = 30 * 86_400_000 + 60_000
MIN_CANCEL_ALL_MS = 5 * 60_000
MAX_CANCEL_ALL_MS = 15 * 86_400_000 + 60_000
SUPPORTED_TX_TYPES = frozenset(
    {
        TX_CHANGE_PUB_KEY,
        TX_CREATE_SUB_ACCOUNT,
        TX_WITHDRAW,
        TX_CREATE_ORDER,
        TX_CANCEL_ORDER,
        TX_CANCEL_ALL,
        TX_MODIFY_ORDER,
        TX_UPDATE_LEVERAGE,
        TX_CREATE_GROUPED,
        TX_UPDATE_MARGIN,
    }
)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """Validated fields of one CreateOrder (or one order of a group)."""

    market_id: int
    client_order_index: int
    base_amount: int
    price: int
    is_ask: bool
    type_code: int
    tif_code: int
    reduce_only: bool
    trigger_price: int
    order_expiry: int
    self_trade_mode: int


def field_int(info: dict[str, Any], key: str) -> int:
    """An integer field of tx_info; a missing or non-integer field is 21501."""
    value = info.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SimError(21501, "invalid tx info")
    return value


def attributes(info: dict[str, Any]) -> dict[int, int]:
    """L2TxAttributes as {attribute type: value} (null -> {})."""
    raw = info.get("L2TxAttributes")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SimError(21501, "invalid tx info")
    try:
        return {int(k): int(v) for k, v in raw.items()}
    except (TypeError, ValueError) as exc:
        raise SimError(21501, "invalid tx info") from exc


def account_field(tx_type: int) -> str:
    """Withdraw names its account FromAccountIndex; every other tx AccountIndex."""
    return "FromAccountIndex" if tx_type == TX_WITHDRAW else "AccountIndex"


def check_envelope(
    state: ExchangeState,
    tx_type: int,
    info: dict[str, Any],
    *,
    now_ms: int,
    expected_nonce: int | None = None,
) -> tuple[Account, int, int]:
    """Account, key, expiry and nonce checks; returns (account, api_key_index, nonce).

    `expected_nonce` defaults to the key's next nonce (batches pass their running value).
    """
    if tx_type not in SUPPORTED_TX_TYPES:
        raise SimError(21505, "unsupported tx type")
    account_index = field_int(info, account_field(tx_type))
    if account_index < 0:
        raise SimError(21102, "invalid account index")
    account = state.accounts.get(account_index)
    if account is None:
        raise SimError(21100, "account not found")
    key_index = field_int(info, "ApiKeyIndex")
    if not 0 <= key_index <= 254:
        raise SimError(21110, "invalid api key index")
    if tx_type != TX_CHANGE_PUB_KEY and key_index not in account.api_keys:
        raise SimError(21109, "api key not found")
    if field_int(info, "ExpiredAt") <= now_ms:
        raise SimError(21711, "invalid expiry")
    nonce = field_int(info, "Nonce")
    if expected_nonce is None:
        expected_nonce = account.nonces.get(key_index, 0)
    skip = attributes(info).get(4) == 1
    if nonce < expected_nonce or (not skip and nonce != expected_nonce):
        raise SimError(21104, "invalid nonce")
    return account, key_index, nonce


def check_body(
    state: ExchangeState,
    tx_type: int,
    info: dict[str, Any],
    account: Account,
    *,
    now_ms: int,
    price_protection: bool,
) -> Any:
    """Type-specific field rules, market existence and pre-trade margin.

    Returns the parsed payload the executor needs (an OrderRequest, or (grouping, requests)).
    """
    if tx_type == TX_CREATE_ORDER:
        req = parse_order(state, info, account, now_ms=now_ms, price_protection=price_protection)
        check_new_order(state, account, req)
        return req
    if tx_type == TX_CREATE_GROUPED:
        return parse_group(state, info, account, now_ms=now_ms, price_protection=price_protection)
    if tx_type in (TX_CANCEL_ORDER, TX_MODIFY_ORDER):
        market(state, info)
        if not 1 <= field_int(info, "Index") < (1 << 60):
            raise SimError(21700, "invalid order index")
        if tx_type == TX_MODIFY_ORDER:
            if not 1 <= field_int(info, "BaseAmount") < CLIENT_INDEX_LIMIT:
                raise SimError(21701, "invalid base amount")
            if not 1 <= field_int(info, "Price") <= UINT32_MAX:
                raise SimError(21702, "invalid price")
            if not 0 <= field_int(info, "TriggerPrice") <= UINT32_MAX:
                raise SimError(21729, "invalid order trigger price")
    elif tx_type == TX_CANCEL_ALL:
        check_cancel_all(state, info, now_ms=now_ms)
    elif tx_type == TX_UPDATE_LEVERAGE:
        spec = market(state, info)
        if not spec.min_imf <= field_int(info, "InitialMarginFraction") <= 10_000:
            raise SimError(21113, "invalid initial margin fraction")
        if field_int(info, "MarginMode") not in (0, 1):
            raise SimError(21613, "invalid margin mode")
    elif tx_type == TX_UPDATE_MARGIN:
        market(state, info)
        if field_int(info, "USDCAmount") <= 0:
            raise SimError(21300, "invalid asset amount")
        if field_int(info, "Direction") not in (0, 1):
            raise SimError(21615, "invalid update margin direction")
    elif tx_type == TX_CHANGE_PUB_KEY:
        public_key_hex(info)
    elif tx_type == TX_WITHDRAW:
        if field_int(info, "AssetIndex") != 3:
            raise SimError(21801, "invalid asset index")
        if field_int(info, "RouteType") != 0:
            raise SimError(21124, "invalid route type")
        if field_int(info, "Amount") <= 0:
            raise SimError(21116, "withdrawal amount is too small")
    return None


def market(state: ExchangeState, info: dict[str, Any]) -> MarketSpec:
    """The MarketSpec named by MarketIndex, or 21602."""
    spec = state.markets.get(field_int(info, "MarketIndex"))
    if spec is None:
        raise SimError(21602, "invalid market index")
    return spec


def public_key_hex(info: dict[str, Any]) -> str:
    """ChangePubKey's PubKey (base64 of 40 bytes) as 80 lowercase hex chars."""
    raw = info.get("PubKey")
    try:
        key = base64.b64decode(str(raw), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SimError(21501, "invalid tx info") from exc
    if len(key) != 40:
        raise SimError(21501, "invalid tx info")
    return key.hex()


def parse_order(
    state: ExchangeState,
    fields: dict[str, Any],
    account: Account,
    *,
    now_ms: int,
    price_protection: bool,
    grouped: bool = False,
    self_trade_mode: int | None = None,
) -> OrderRequest:
    """Validate one order's fields (lighter-api.md §3.3, §4.2)."""
    spec = market(state, fields)
    coi = field_int(fields, "ClientOrderIndex")
    if not 0 <= coi < CLIENT_INDEX_LIMIT:
        raise SimError(21727, "invalid client order index")
    if coi and (account.index, coi) in state.live_by_client:
        raise SimError(21728, "client order index already exists")
    type_code = field_int(fields, "Type")
    if not 0 <= type_code <= ORDER_TYPE_TWAP:
        raise SimError(21704, "invalid OrderType")
    tif = field_int(fields, "TimeInForce")
    if (
        tif not in (0, 1, 2)
        or (type_code in (1, 2, 4) and tif != TIF_IOC)
        or (type_code == ORDER_TYPE_TWAP and tif != TIF_GTT)
    ):
        raise SimError(21705, "invalid OrderTimeInForce")
    is_ask = field_int(fields, "IsAsk")
    if is_ask not in (0, 1):
        raise SimError(21703, "invalid isAsk")
    reduce_only = field_int(fields, "ReduceOnly")
    if reduce_only not in (0, 1):
        raise SimError(21740, "invalid reduce only mode")
    base = field_int(fields, "BaseAmount")
    if not 0 <= base < CLIENT_INDEX_LIMIT or (base == 0 and not reduce_only and not grouped):
        raise SimError(21701, "invalid base amount")
    price = field_int(fields, "Price")
    if not 1 <= price <= UINT32_MAX:
        raise SimError(21702, "invalid price")
    trigger = field_int(fields, "TriggerPrice")
    conditional = type_code in CONDITIONAL_TYPES
    if (conditional and not 1 <= trigger <= UINT32_MAX) or (not conditional and trigger != 0):
        raise SimError(21729, "invalid order trigger price")
    expiry = field_int(fields, "OrderExpiry")
    immediate = not conditional and (type_code == ORDER_TYPE_MARKET or tif == TIF_IOC)
    if immediate and expiry != 0:
        raise SimError(21711, "invalid expiry")
    if not immediate and not (
        now_ms + MIN_ORDER_EXPIRY_MS <= expiry <= now_ms + MAX_ORDER_EXPIRY_MS
    ):
        raise SimError(21711, "invalid expiry")
    if base and (
        base < spec.min_base_amount or spec.units.quote(base, price) < spec.min_quote_amount
    ):
        raise SimError(21706, "invalid order base or quote amount")
    mark = state.reference[spec.market_id]
    if price_protection and type_code == 0 and abs(price - mark) > mark * state.config.price_band:
        raise SimError(21734, "limit order price is too far from the mark price")
    mode = attributes(fields).get(6, 0) if self_trade_mode is None else self_trade_mode
    if mode not in (0, 1, 2, 3):
        raise SimError(21743, "invalid order info")
    return OrderRequest(
        spec.market_id, coi, base, price, bool(is_ask), type_code, tif, bool(reduce_only),
        trigger, expiry, mode,
    )  # fmt: skip


def check_new_order(state: ExchangeState, account: Account, req: OrderRequest) -> None:
    """Order-count and account-health pre-checks of a new order (21717, 21507).

    An order the account cannot afford is NOT refused here: Lighter accepts the tx and the
    sequencer cancels the order with status `canceled-margin-not-allowed` (orders.execute), so
    a client learns it from the order report, not from sendTx.
    """
    if len(state.account_live.get(account.index, {})) >= state.config.max_active_orders:
        raise SimError(21717, "maximum active limit order count reached")
    if req.reduce_only or req.type_code in CONDITIONAL_TYPES or account.is_system:
        return
    if below_maintenance(state, account):
        raise SimError(21507, "account is below maintenance margin, can't execute transaction")


def parse_group(
    state: ExchangeState,
    info: dict[str, Any],
    account: Account,
    *,
    now_ms: int,
    price_protection: bool,
) -> tuple[int, list[OrderRequest]]:
    """Validate CreateGroupedOrders: (grouping type, orders) per lighter-api.md §3.7."""
    grouping = field_int(info, "GroupingType")
    if grouping not in (1, 2, 3):
        raise SimError(21741, "invalid grouping type")
    raw = info.get("Orders")
    expected = {1: 2, 2: 2, 3: 3}[grouping]
    if not isinstance(raw, list) or len(raw) != expected:
        raise SimError(21742, "invalid order group size")
    mode = attributes(info).get(6, 0)
    reqs = [
        parse_order(
            state, o if isinstance(o, dict) else {}, account, now_ms=now_ms,
            price_protection=price_protection, grouped=True, self_trade_mode=mode,
        )
        for o in raw
    ]  # fmt: skip
    indexes = [r.client_order_index for r in reqs if r.client_order_index]
    same_market = len({r.market_id for r in reqs}) == 1
    if not same_market or len(indexes) != len(set(indexes)):
        raise SimError(21743, "invalid order info")
    if grouping == 2:
        _check_oco(reqs)
    else:
        parent, kids = reqs[0], reqs[1:]
        if parent.type_code in CONDITIONAL_TYPES or parent.base_amount == 0:
            raise SimError(21743, "invalid order info")
        for kid in kids:
            if kid.type_code not in CONDITIONAL_TYPES or kid.is_ask == parent.is_ask:
                raise SimError(21743, "invalid order info")
            if kid.base_amount != 0:
                raise SimError(21743, "invalid order info")
        if grouping == 3:
            _check_oco(kids)
        check_new_order(state, account, parent)
    return grouping, reqs


def _check_oco(pair: list[OrderRequest]) -> None:
    a, b = pair
    stops = {t in (2, 3) for t in (a.type_code, b.type_code)}
    if (
        stops != {True, False}
        or a.is_ask != b.is_ask
        or a.base_amount != b.base_amount
        or a.order_expiry != b.order_expiry
        or a.type_code not in CONDITIONAL_TYPES
        or b.type_code not in CONDITIONAL_TYPES
        or (a.base_amount == 0 and not (a.reduce_only and b.reduce_only))
    ):
        raise SimError(21743, "invalid order info")


def check_cancel_all(state: ExchangeState, info: dict[str, Any], *, now_ms: int) -> None:
    """CancelAllOrders: immediate (Time 0), scheduled (5 minutes to 15 days ahead) or abort."""
    tif = field_int(info, "TimeInForce")
    time_ms = field_int(info, "Time")
    market_attr = attributes(info).get(5, 255)
    if tif not in (0, 1, 2) or (market_attr != 255 and tif != 0):
        raise SimError(21713, "invalid cancel all time in force")
    if tif == 1:
        if not now_ms + MIN_CANCEL_ALL_MS <= time_ms <= now_ms + MAX_CANCEL_ALL_MS:
            raise SimError(21714, "invalid cancel all time")
    elif time_ms != 0:
        raise SimError(21714, "invalid cancel all time")
    if market_attr != 255 and market_attr not in state.markets:
        raise SimError(21602, "invalid market index")


def tx_hash(tx_type: int, info_text: str) -> str:
    """80 hex chars derived deterministically from the tx (blake2b, 40-byte digest)."""
    return hashlib.blake2b(f"{tx_type}:{info_text}".encode(), digest_size=40).hexdigest()


def parse_tx(tx_type: int, tx_info: dict[str, Any] | str) -> tuple[int, dict[str, Any], str]:
    """(tx_type, tx_info dict, tx_info text) from a dict or the JSON string the SDK posts."""
    if isinstance(tx_info, str):
        try:
            info = json.loads(tx_info)
        except json.JSONDecodeError as exc:
            raise SimError(21501, "invalid tx info") from exc
        text = tx_info
    else:
        info, text = tx_info, json.dumps(tx_info, separators=(",", ":"))
    if not isinstance(info, dict) or isinstance(tx_type, bool) or not isinstance(tx_type, int):
        raise SimError(21501, "invalid tx info")
    return tx_type, info, text


def check_increasing(nonces: list[int]) -> None:
    """Batch nonces must strictly increase (21105)."""
    if any(b <= a for a, b in itertools.pairwise(nonces)):
        raise SimError(21105, "batch transaction nonce is not increasing")
