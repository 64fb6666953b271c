"""Hedge bots: a maker leg on one account, an instant taker hedge on another (docs/hedge.md).

The row holds the operator's configuration; `hedge_config()` turns it into the pure core's
`HedgeConfig`, whose field errors `clean()` reports under this model's field names. The core's
snapshot (state, phase, cycles, deadlines) is kept in `strategy_snapshot` across restarts.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from bots import validators
from bots.models.accounts import ExchangeAccount
from bots.models.bots import Bot, MarginMode
from bots.models.fields import money_field
from bots.strategies.grid import tick_from_decimals
from bots.strategies.hedge import Direction, HedgeConfig, HedgeConfigError, PriceMode, RetryPolicy
from bots.strategies.protocol import Leg


class HedgeDirection(models.TextChoices):
    LONG = "long", "A opens long (B short)"
    SHORT = "short", "A opens short (B long)"


class HedgeSizeMode(models.TextChoices):
    BASE = "base", "Base quantity"
    QUOTE = "quote", "Quote notional"


class HedgePriceMode(models.TextChoices):
    LEVEL = "level", "Book level (1 = best bid/ask)"
    OFFSET_BPS = "offset_bps", "Offset from the best price (bps)"


# The core's field names -> this model's, so its errors land next to the right input.
CORE_FIELDS = {
    "leg_b": "taker_account",
    "size_base": "size",
    "hold_ms": "hold_min_ms",
    "cooldown_ms": "cooldown_min_ms",
    "hedge_retry": "hedge_max_attempts",
    "tick_size": "market",
    "lot_size": "market",
    "min_base_amount": "market",
    "min_quote_amount": "market",
}


class HedgeBot(Bot):
    """Maker leg A (`account`) rests a post-only order; every fill is hedged on taker leg B
    (`taker_account`) by a market order of the same size with a worst price."""

    # What an operator may change while the bot runs: its runner applies it from its next step
    # (`bots.engine.runner`). The rest is the config the runner started with.
    LIVE_SETTINGS = ("stop_loss_quote",)
    # Its runner must go on hedging every fill of A, so a pause would only look like one while
    # it kept trading; Stop is its pause.
    NO_PAUSE = "Stop it instead (A's order is cancelled and both positions are kept)"

    taker_account = models.ForeignKey(
        ExchangeAccount,
        on_delete=models.PROTECT,
        related_name="hedge_bots_taking",
        help_text="Account B: takes the other side with market orders.",
    )
    direction = models.CharField(
        max_length=5, choices=HedgeDirection.choices, default=HedgeDirection.LONG
    )
    size_mode = models.CharField(
        max_length=5, choices=HedgeSizeMode.choices, default=HedgeSizeMode.BASE
    )
    size = money_field(help_text="Per cycle: base quantity or quote notional, per the size mode.")
    price_mode = models.CharField(
        max_length=10, choices=HedgePriceMode.choices, default=HedgePriceMode.LEVEL
    )
    book_level = models.PositiveSmallIntegerField(default=1)
    offset_bps = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("0"))
    order_timeout_ms = models.PositiveIntegerField(
        default=30_000, help_text="A's order older than this is re-placed at the fresh price."
    )
    hold_min_ms = models.PositiveIntegerField(default=60_000)
    hold_max_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: hold exactly the minimum; else a random range."
    )
    cycles = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    cooldown_min_ms = models.PositiveIntegerField(default=0)
    cooldown_max_ms = models.PositiveIntegerField(null=True, blank=True)
    max_slippage_bps = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("50"))
    imbalance_tolerance_base = money_field(
        null=True,
        blank=True,
        help_text="Largest |A + B| left alone; empty: min size - 1 lot.",
    )
    hedge_max_attempts = models.PositiveSmallIntegerField(default=5)
    hedge_timeout_ms = models.PositiveIntegerField(default=10_000)
    repair_attempts = models.PositiveSmallIntegerField(default=3)
    stop_loss_quote = money_field(
        null=True, blank=True, help_text="Optional: halt both legs at this loss of the pair."
    )
    leverage_a = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("1"))
    margin_mode_a = models.CharField(
        max_length=8, choices=MarginMode.choices, default=MarginMode.CROSS
    )
    leverage_b = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("1"))
    margin_mode_b = models.CharField(
        max_length=8, choices=MarginMode.choices, default=MarginMode.CROSS
    )
    # Engine-owned: the core's snapshot, passed back as `restore` on restart.
    strategy_snapshot = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def size_base(self) -> Decimal:
        """The size in base units: a quote notional converted at the market's last price, down
        to the lot (0 when no price is known yet)."""
        lot = tick_from_decimals(self.market.size_decimals)
        if self.size_mode == HedgeSizeMode.BASE:
            return Decimal(self.size)
        price = self.market.last_price
        if not price:
            return Decimal(0)
        lots = (Decimal(self.size) / Decimal(price) / lot).to_integral_value(ROUND_DOWN)
        return lots * lot

    def hedge_config(self) -> HedgeConfig:
        """The pure core's config from this row and its market (raises HedgeConfigError)."""
        market = self.market
        lot = tick_from_decimals(market.size_decimals)
        tolerance = self.imbalance_tolerance_base
        if tolerance is None:
            tolerance = max(Decimal(0), market.min_base_amount - lot)
        return HedgeConfig(
            leg_a=Leg(self.account_id, self.market_id),
            leg_b=Leg(self.taker_account_id, self.market_id),
            direction=Direction(self.direction),
            size_base=self.size_base(),
            tick_size=tick_from_decimals(market.price_decimals),
            lot_size=lot,
            min_base_amount=market.min_base_amount,
            min_quote_amount=market.min_quote_amount,
            price_mode=PriceMode(self.price_mode),
            book_level=self.book_level,
            offset_bps=Decimal(self.offset_bps),
            order_timeout_ms=self.order_timeout_ms,
            hold_ms=_duration(self.hold_min_ms, self.hold_max_ms),
            cycles=self.cycles,
            cooldown_ms=_duration(self.cooldown_min_ms, self.cooldown_max_ms),
            max_slippage_bps=Decimal(self.max_slippage_bps),
            imbalance_tolerance_base=Decimal(tolerance),
            stop_loss_quote=self.stop_loss_quote,
            hedge_retry=RetryPolicy(max_attempts=self.hedge_max_attempts),
            hedge_timeout_ms=self.hedge_timeout_ms,
            repair_attempts=self.repair_attempts,
        )

    def clean(self) -> None:
        errors: dict[str, str] = {}
        market = self.market if self.market_id else None
        if self.account_id and self.taker_account_id:
            if self.account_id == self.taker_account_id:
                errors["taker_account"] = "The taker account must differ from the maker account."
            elif self.account.network != self.taker_account.network:
                errors["taker_account"] = "Both accounts must be on the same network."
        for low, high in (("hold_min_ms", "hold_max_ms"), ("cooldown_min_ms", "cooldown_max_ms")):
            if getattr(self, high) is not None and getattr(self, high) < getattr(self, low):
                errors[high] = "The maximum must not be below the minimum."
        if market is not None:
            if self.account_id and self.account.network != market.network:
                errors["market"] = "This market belongs to another network than the account."
            errors |= _renamed(
                validators.order_size_errors(
                    size_mode=self.size_mode,
                    size=self.size,
                    min_base_amount=market.min_base_amount,
                    min_quote_amount=market.min_quote_amount,
                    last_price=market.last_price,
                ),
                {},
            )
            for leg in ("a", "b"):
                leverage = getattr(self, f"leverage_{leg}")
                found = validators.leverage_errors(leverage, market.max_leverage)
                errors |= _renamed(found, {"leverage": f"leverage_{leg}"})
            if not errors and self.size is not None:
                errors |= self._core_errors()
        if errors:
            raise ValidationError(errors)

    def _core_errors(self) -> dict[str, str]:
        try:
            self.hedge_config()
        except HedgeConfigError as exc:
            return {CORE_FIELDS.get(name, name): message for name, message in exc.errors.items()}
        return {}


def _duration(low: int, high: int | None) -> int | tuple[int, int]:
    return low if high is None or high == low else (low, high)


def _renamed(errors: dict[str, Any], names: dict[str, str]) -> dict[str, str]:
    return {names.get(name, name): str(message) for name, message in errors.items()}
