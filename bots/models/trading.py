"""What the bots did: orders, fills, funding payments and the event log."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from bots.figures import plain
from bots.models.accounts import ExchangeAccount, Market
from bots.models.bots import Bot
from bots.models.fields import money_field


class Side(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class OrderStatus(models.TextChoices):
    INTENT = "intent", "Intent (not sent yet)"
    PENDING = "pending", "Pending (sent, not confirmed)"
    OPEN = "open", "Open"
    PARTIALLY_FILLED = "partially_filled", "Partially filled"
    FILLED = "filled", "Filled"
    CANCELED = "canceled", "Canceled"
    REJECTED = "rejected", "Rejected"
    UNKNOWN = "unknown", "Unknown (to reconcile)"


class Order(models.Model):
    """An order we placed; persisted as an intent before it is sent (design decision 2)."""

    bot = models.ForeignKey(
        Bot, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="orders")
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="orders")
    client_order_index = models.BigIntegerField()
    order_index = models.BigIntegerField(null=True, blank=True)
    side = models.CharField(max_length=4, choices=Side.choices)
    price = money_field()
    size_base = money_field()
    filled_base = money_field(default=Decimal("0"))
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.INTENT
    )
    exchange_status = models.CharField(max_length=64, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    level_index = models.IntegerField(null=True, blank=True)
    tx_hash = models.CharField(max_length=128, blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "client_order_index"], name="order_client_index_unique"
            )
        ]
        indexes = [models.Index(fields=["bot", "status"], name="order_bot_status_idx")]

    def __str__(self) -> str:
        size, price = plain(self.size_base), plain(self.price)
        return f"{self.side} {size} @ {price} (#{self.client_order_index})"

    @property
    def fill_ratio(self) -> Decimal:
        """Filled share of the order size, 0..1 (0 for a zero-size order)."""
        if not self.size_base:
            return Decimal("0")
        ratio: Decimal = self.filled_base / self.size_base
        return ratio


class Fill(models.Model):
    """One trade of ours; unique by the exchange's trade id per account."""

    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="fills")
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="fills")
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="fills"
    )
    bot = models.ForeignKey(
        Bot, null=True, blank=True, on_delete=models.SET_NULL, related_name="fills"
    )
    trade_id = models.BigIntegerField()
    side = models.CharField(max_length=4, choices=Side.choices)
    price = money_field()
    size_base = money_field()
    fee = money_field(
        default=Decimal("0"), help_text="Quote paid (positive) or received (negative)."
    )
    is_maker = models.BooleanField()
    level_index = models.IntegerField(null=True, blank=True)
    # Pairs an opening fill with the fill that closed it (bots.strategies.accounting); null while
    # open.
    round_trip_id = models.BigIntegerField(null=True, blank=True)
    executed_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-executed_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "trade_id"], name="fill_trade_id_unique")
        ]
        indexes = [models.Index(fields=["bot", "-executed_at"], name="fill_bot_time_idx")]

    def __str__(self) -> str:
        return f"{self.side} {plain(self.size_base)} @ {plain(self.price)} (trade {self.trade_id})"


class MarketOrderIndexes(models.Model):
    """Client order indexes a bot reserved on one account for its market orders (a hedge, a
    repair, a leg's close, a risk exit's flatten), written before any of them is sent.

    Market orders have no `Order` row; this is how a fill of one is known to be the bot's, also
    by a later run when the one that sent it died before recording it."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="market_order_indexes")
    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.CASCADE, related_name="market_order_indexes"
    )
    first = models.BigIntegerField()
    count = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["bot", "account"], name="market_indexes_bot_idx")]

    def __str__(self) -> str:
        return f"{self.first}..{self.first + self.count - 1}"


class PositionTransfer(models.Model):
    """A position handed to a bot by the operator's *adopt* (positive size long, negative
    short), or taken from the stopped bot that held it; booked like a fill at `price` (the mark
    price when the runner adopted it). See README "How positions are owned"."""

    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.PROTECT, related_name="position_transfers"
    )
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="position_transfers")
    # Any kind of bot: a grid, or a hedge bot's leg on this account (its position there).
    bot = models.ForeignKey(
        Bot, null=True, blank=True, on_delete=models.SET_NULL, related_name="transfers"
    )
    size_base = money_field()
    price = money_field()
    note = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.size_base} @ {self.price} ({self.note})"


class FundingPayment(models.Model):
    """One hourly funding settlement on an account's position in a market."""

    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.PROTECT, related_name="funding_payments"
    )
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="funding_payments")
    bot = models.ForeignKey(
        Bot, null=True, blank=True, on_delete=models.SET_NULL, related_name="funding_payments"
    )
    funding_id = models.BigIntegerField()
    amount = money_field(help_text="Quote received (positive) or paid (negative).")
    rate = models.DecimalField(max_digits=30, decimal_places=12)
    position_size_base = money_field(null=True, blank=True)
    paid_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-paid_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "funding_id"], name="funding_id_unique_per_account"
            )
        ]
        indexes = [models.Index(fields=["bot", "-paid_at"], name="funding_bot_time_idx")]

    def __str__(self) -> str:
        return f"funding {plain(self.amount)} ({self.market_id}, {self.paid_at:%Y-%m-%d %H:%M:%S})"


class EventLevel(models.TextChoices):
    DEBUG = "debug", "Debug"
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


class BotEvent(models.Model):
    """Every decision, order, fill, error and operator action (design decision 10)."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="events")
    account = models.ForeignKey(
        ExchangeAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    level = models.CharField(max_length=7, choices=EventLevel.choices, default=EventLevel.INFO)
    kind = models.CharField(max_length=40)
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["bot", "-created_at"], name="event_bot_time_idx")]

    def __str__(self) -> str:
        return f"[{self.level}] {self.kind}: {self.message[:60]}"
