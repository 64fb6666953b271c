"""Bots as Django data: exchange accounts, markets, grid bots, their orders, fills and events.

Money is Decimal (max_digits 30, decimal_places 10). Secrets are stored only as Fernet
ciphertext (`lighterweb.crypto`): the model exposes set/get methods, never a plaintext attribute,
so no form, serializer, repr or log line can pick the plaintext up by accident.

Split by role: `accounts` (ExchangeAccount, Market), `bots` (Bot: what every kind shares, and
its states), `gridbots` (GridBot), `hedgebots` (HedgeBot), `trading` (Order, Fill,
FundingPayment, BotEvent) and `notify` (NotificationChannel, TelegramLink); import everything
from `bots.models`.
"""

from __future__ import annotations

from bots.models.accounts import (
    NETWORK_ENDPOINTS,
    PAPER_CHAIN_ID,
    ExchangeAccount,
    KeyMode,
    Market,
    Network,
    Tier,
)
from bots.models.backtest import (
    Backtest,
    BacktestMode,
    BacktestStatus,
    BacktestSweep,
    Candle,
    FundingRate,
    SweepStatus,
)
from bots.models.bots import (
    Bot,
    BotStatus,
    DesiredState,
    MarginMode,
)
from bots.models.fields import (
    money_field,
)
from bots.models.gridbots import (
    GridBot,
    SizeMode,
    SpacingMode,
)
from bots.models.hedgebots import (
    HedgeBot,
    HedgeDirection,
    HedgePriceMode,
    HedgeSizeMode,
)
from bots.models.notify import (
    AlertKind,
    ChannelKind,
    NotificationChannel,
    TelegramLink,
)
from bots.models.pnl import PnlSnapshot
from bots.models.sessionlog import SessionChunk
from bots.models.trading import (
    BotEvent,
    EventLevel,
    Fill,
    FundingPayment,
    MarketOrderIndexes,
    Order,
    OrderStatus,
    PositionTransfer,
    Side,
)

__all__ = [
    "NETWORK_ENDPOINTS",
    "PAPER_CHAIN_ID",
    "AlertKind",
    "Backtest",
    "BacktestMode",
    "BacktestStatus",
    "BacktestSweep",
    "Bot",
    "BotEvent",
    "BotStatus",
    "Candle",
    "ChannelKind",
    "DesiredState",
    "EventLevel",
    "ExchangeAccount",
    "Fill",
    "FundingPayment",
    "FundingRate",
    "GridBot",
    "HedgeBot",
    "HedgeDirection",
    "HedgePriceMode",
    "HedgeSizeMode",
    "KeyMode",
    "MarginMode",
    "Market",
    "MarketOrderIndexes",
    "Network",
    "NotificationChannel",
    "Order",
    "OrderStatus",
    "PnlSnapshot",
    "PositionTransfer",
    "SessionChunk",
    "Side",
    "SizeMode",
    "SpacingMode",
    "SweepStatus",
    "TelegramLink",
    "Tier",
    "money_field",
]
