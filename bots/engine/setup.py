"""What a runner is built from: the pure core's config from a GridBot row, the exchange client
for its account, and the pure core's view of Order rows."""

from __future__ import annotations

from typing import Protocol

from django.conf import settings

from bots.models import GridBot, SpacingMode
from bots.strategies.grid import (
    GridConfig,
    SizeMode,
    Spacing,
    step_from_percent,
    tick_from_decimals,
)
from exchange.client import LighterClient


class Lease(Protocol):
    """What the runner needs of `bots.engine.leases.BotLease`."""

    def renew(self) -> bool:
        """Extend the lease; False when another holder took it."""
        ...


def grid_config(bot: GridBot) -> GridConfig:
    """The pure core's config from a GridBot row and its market."""
    market = bot.market
    geometric = bot.spacing_mode == SpacingMode.GEOMETRIC
    return GridConfig(
        spacing=Spacing.GEOMETRIC if geometric else Spacing.ARITHMETIC,
        step=step_from_percent(bot.step) if geometric else bot.step,
        levels_per_side=bot.levels_per_side,
        size_mode=SizeMode(bot.size_mode),
        size=bot.size,
        tick_size=tick_from_decimals(market.price_decimals),
        lot_size=tick_from_decimals(market.size_decimals),
        min_base_amount=market.min_base_amount,
        min_quote_amount=market.min_quote_amount,
        post_only=bot.post_only,
        max_open_orders=bot.max_open_orders,
        max_position_notional=bot.max_position_notional,
        stop_loss_price=bot.stop_loss_price,
        take_profit_price=bot.take_profit_price,
        flatten_on_stop=bot.flatten_on_stop,
    )


def client_for(bot: GridBot) -> LighterClient:
    """A client for the bot's account; the signer is created lazily, in this task (decision 7)."""
    account = bot.account
    return LighterClient(
        account.base_url,
        chain_id=account.chain_id,
        ws_url=account.ws_url,
        account_index=account.account_index,
        api_key_index=account.api_key_index,
        api_private_key=account.decrypt_api_private_key(),
        l1_address=account.l1_address or None,
        redis_url=settings.REDIS_URL,
        tier=account.tier,  # type: ignore[arg-type]
    )


def bot_load(bot_id: int) -> GridBot:
    """The bot with its account and market (one query)."""
    return GridBot.objects.select_related("account", "market").get(pk=bot_id)
