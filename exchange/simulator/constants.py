"""Lighter's protocol constants used by the simulator (lighter-api.md §3.1, §4.1, §4.3)."""

from __future__ import annotations

from typing import Final

# Lighter constants (lighter-api.md §4.1).
ORDER_TYPE_LIMIT: Final = 0
ORDER_TYPE_MARKET: Final = 1
ORDER_TYPE_STOP_LOSS: Final = 2
ORDER_TYPE_STOP_LOSS_LIMIT: Final = 3
ORDER_TYPE_TAKE_PROFIT: Final = 4
ORDER_TYPE_TAKE_PROFIT_LIMIT: Final = 5
ORDER_TYPE_TWAP: Final = 6
ORDER_TYPE_NAMES: Final = {
    0: "limit",
    1: "market",
    2: "stop-loss",
    3: "stop-loss-limit",
    4: "take-profit",
    5: "take-profit-limit",
    6: "twap",
}
CONDITIONAL_TYPES: Final = frozenset({2, 3, 4, 5})

TIF_IOC: Final = 0
TIF_GTT: Final = 1
TIF_POST_ONLY: Final = 2
TIF_NAMES: Final = {0: "immediate-or-cancel", 1: "good-till-time", 2: "post-only"}

SELF_TRADE_EXPIRE_MAKER: Final = 0
SELF_TRADE_EXPIRE_TAKER: Final = 1
SELF_TRADE_EXPIRE_BOTH: Final = 2
SELF_TRADE_REDUCE: Final = 3

GROUP_OTO: Final = 1
GROUP_OCO: Final = 2
GROUP_OTOCO: Final = 3

TX_CHANGE_PUB_KEY: Final = 8
TX_CREATE_SUB_ACCOUNT: Final = 9
TX_TRANSFER: Final = 12
TX_WITHDRAW: Final = 13
TX_CREATE_ORDER: Final = 14
TX_CANCEL_ORDER: Final = 15
TX_CANCEL_ALL: Final = 16
TX_MODIFY_ORDER: Final = 17
TX_UPDATE_LEVERAGE: Final = 20
TX_CREATE_GROUPED: Final = 28
TX_UPDATE_MARGIN: Final = 29

TX_STATUS_FAILED: Final = 0
TX_STATUS_PENDING: Final = 1
TX_STATUS_EXECUTED: Final = 2

# Order indexes assigned by the exchange are >= 2**48; client order indexes are below.
CLIENT_INDEX_LIMIT: Final = 1 << 48

LIVE_STATUSES: Final = frozenset({"open", "pending", "in-progress"})
