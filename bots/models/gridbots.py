"""Grid bots: the operator's grid configuration and the grid's run state (the centre).

The desired state, status, lease and heartbeat are common to every bot kind (`bots.models.bots`).
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models

from bots import validators
from bots.models.bots import Bot, MarginMode
from bots.models.fields import money_field
from bots.strategies.grid import (
    GridConfig,
    Lattice,
    Spacing,
    step_from_percent,
    tick_from_decimals,
)
from bots.strategies.grid import SizeMode as GridSizeMode


class SpacingMode(models.TextChoices):
    ARITHMETIC = "arithmetic", "Arithmetic (price step)"
    GEOMETRIC = "geometric", "Geometric (percent step)"


class SizeMode(models.TextChoices):
    BASE = "base", "Base quantity"
    QUOTE = "quote", "Quote notional"


class GridBot(Bot):
    """An infinite two-sided grid on one market of one account (design.md "Infinite grid")."""

    # What an operator may change while the bot runs: its runner applies them (read with the
    # desired state, `bots.engine.runner`). The rest of the grid is fixed for a run.
    LIVE_SETTINGS = ("stop_loss_price", "take_profit_price")

    spacing_mode = models.CharField(
        max_length=10, choices=SpacingMode.choices, default=SpacingMode.ARITHMETIC
    )
    step = money_field(help_text="Price step (arithmetic) or percent per level (geometric).")
    levels_per_side = models.PositiveSmallIntegerField(default=5)
    size_mode = models.CharField(max_length=5, choices=SizeMode.choices, default=SizeMode.BASE)
    size = money_field(help_text="Per level: base quantity or quote notional, per the size mode.")
    post_only = models.BooleanField(default=True)
    max_open_orders = models.PositiveIntegerField(default=20)
    max_position_notional = money_field(help_text="Stop adding on the side that grows exposure.")
    leverage = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("1"))
    margin_mode = models.CharField(
        max_length=8, choices=MarginMode.choices, default=MarginMode.CROSS
    )
    stop_loss_price = money_field(null=True, blank=True)
    take_profit_price = money_field(null=True, blank=True)
    flatten_on_stop = models.BooleanField(
        default=False,
        help_text="Close the position (reduce-only) when stop-loss or take-profit hits.",
    )
    # The operator's answer to "a position here is not this bot's" at its last start ("adopt" or
    # "leave", bots.strategies.ownership.Choice) and the size it was asked about. An adopt is
    # carried out by the runner at startup, which then clears it (design.md "Ownership").
    unattributed_choice = models.CharField(max_length=5, blank=True, default="", editable=False)
    unattributed_choice_base = money_field(null=True, blank=True, editable=False)
    # The grid's lattice, kept across restarts.
    anchor_price = money_field(null=True, blank=True, editable=False)
    centre_index = models.IntegerField(null=True, blank=True, editable=False)
    last_price = money_field(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        # Operators control bots (start/pause/stop/cancel, emergency stop, cancel-all); viewers
        # only look (lighterweb.roles).
        permissions = [("control_bot", "Can start, pause, stop bots and cancel orders")]

    def grid_config(self) -> GridConfig:
        """The pure grid core's config from this row and its market."""
        market = self.market
        geometric = self.spacing_mode == SpacingMode.GEOMETRIC
        return GridConfig(
            spacing=Spacing.GEOMETRIC if geometric else Spacing.ARITHMETIC,
            step=step_from_percent(self.step) if geometric else self.step,
            levels_per_side=self.levels_per_side,
            size_mode=GridSizeMode(self.size_mode),
            size=self.size,
            tick_size=tick_from_decimals(market.price_decimals),
            lot_size=tick_from_decimals(market.size_decimals),
            min_base_amount=market.min_base_amount,
            min_quote_amount=market.min_quote_amount,
            post_only=self.post_only,
            max_open_orders=self.max_open_orders,
            max_position_notional=self.max_position_notional,
            stop_loss_price=self.stop_loss_price,
            take_profit_price=self.take_profit_price,
            flatten_on_stop=self.flatten_on_stop,
        )

    def centre_price(self) -> Decimal | None:
        """The price of the (empty) centre level the runner last set; None before it anchors."""
        if self.anchor_price is None or self.centre_index is None:
            return None
        try:
            return Lattice(self.anchor_price, self.grid_config()).price(self.centre_index)
        except ValueError:
            return None  # a config edited into an unusable shape: no centre to show

    def clean(self) -> None:
        errors: dict[str, str] = {}
        errors |= validators.grid_shape_errors(self.step, self.levels_per_side)
        errors |= validators.max_open_orders_errors(self.max_open_orders, self.levels_per_side)
        errors |= validators.positive_errors("max_position_notional", self.max_position_notional)
        errors |= validators.exit_price_errors(self.stop_loss_price, self.take_profit_price)
        market = self.market if self.market_id else None
        if market is not None:
            errors |= validators.order_size_errors(
                size_mode=self.size_mode,
                size=self.size,
                min_base_amount=market.min_base_amount,
                min_quote_amount=market.min_quote_amount,
                last_price=market.last_price,
            )
            errors |= validators.leverage_errors(self.leverage, market.max_leverage)
            errors |= validators.level_price_errors(
                arithmetic=self.spacing_mode == SpacingMode.ARITHMETIC,
                step=self.step,
                levels=self.levels_per_side,
                last_price=market.last_price,
            )
            if self.account_id and self.account.network != market.network:
                errors["market"] = "This market belongs to another network than the account."
        else:
            errors |= validators.leverage_errors(self.leverage, None)
        if errors:
            raise ValidationError(errors)
