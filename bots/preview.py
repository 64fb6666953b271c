"""The grid preview as the admin form and `POST /api/bots/preview` show it.

A read: builds an unsaved GridBot from the submitted fields, validates it like the admin form
(model `clean`), picks the reference price and the account tier's fees, runs the pure
`bots.strategies.grid.preview.grid_preview` and formats every figure to the market's decimals.
Any problem is a `ValidationError` keyed by field (the API answers 422 naming the field).

Where the reference price comes from, in this order (`price_source` in the answer):

* `request` — a price sent with the preview (to try "what if ETH were at 2500");
* `bot` — the mid price of the bot's market as its runner last saw it on the order book
  (`GridBot.last_price`, when previewing an existing bot that has run);
* `market` — the market's last trade price from the last "Sync markets" (`Market.last_price`).

Fees: Lighter's published rates per account tier (standard 0 %, premium with no LIT staked
0.004 % maker / 0.028 % taker); a post-only grid pays the maker rate. Maintenance margin: 60 % of
the market's minimum initial margin (`1 / max_leverage`), as on Lighter's ETH, BTC and SOL.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from bots import figures
from bots.figures import QUOTE_UNIT, base_unit
from bots.models import ExchangeAccount, GridBot, Market
from bots.strategies.grid.preview import CapBind, GridPreview, grid_preview

TIER_FEES = {
    "standard": (Decimal(0), Decimal(0)),
    "premium": (Decimal("0.00004"), Decimal("0.00028")),
}
MAINTENANCE_SHARE_OF_MIN_INITIAL = Decimal("0.6")
MONEY = Decimal("0.01")
SMALL_MONEY = Decimal("0.0001")
PRICE_SOURCES = {
    "request": "the price sent with this preview",
    "bot": "the mid price this bot's runner last saw on the order book",
    "market": "the market's last trade price at the last market sync",
}


@dataclass(frozen=True)
class Figures:
    """Formats numbers of one market: prices and sizes to its decimals, money to cents."""

    market: Market

    def price(self, value: Decimal | None) -> str | None:
        return None if value is None else figures.price(value, self.market)

    def size(self, value: Decimal) -> str:
        return figures.size(value, self.market)

    def money(self, value: Decimal, exact: Decimal = MONEY) -> str:
        return figures.quote(value, exact=exact)


def grid_preview_get(
    *,
    account: ExchangeAccount,
    market: Market,
    price: Decimal | None,
    bot_id: int | None,
    **fields: Any,
) -> dict[str, Any]:
    """The preview of a grid configured with `fields` (GridBot field names) on account/market."""
    bot = GridBot(account=account, market=market, **fields)
    errors: dict[str, str] = {}
    try:
        bot.clean()
    except ValidationError as exc:
        errors |= {name: messages[0] for name, messages in exc.message_dict.items()}
    reference, source = _reference_price(market, price, bot_id)
    if reference is None:
        errors.setdefault(
            "price",
            f"No price is known for {market.symbol} yet: sync the markets or send a price.",
        )
    if errors:
        raise ValidationError(errors)
    assert reference is not None
    try:
        config = bot.grid_config()
    except ValueError as exc:
        name, _, message = str(exc).partition(": ")
        raise ValidationError({name if name in fields else "__all__": message}) from exc
    maker, taker = TIER_FEES.get(account.tier, TIER_FEES["premium"])
    maintenance = (
        MAINTENANCE_SHARE_OF_MIN_INITIAL / market.max_leverage if market.max_leverage else None
    )
    result = grid_preview(
        config,
        reference,
        leverage=bot.leverage,
        maker_fee_rate=maker,
        taker_fee_rate=taker,
        maintenance_fraction=maintenance,
    )
    if result.errors:
        raise ValidationError(result.errors)
    return _out(result, Figures(market), source, account, bot)


def _reference_price(
    market: Market, price: Decimal | None, bot_id: int | None
) -> tuple[Decimal | None, str]:
    if price is not None:
        if price <= 0:
            raise ValidationError({"price": "The price must be greater than zero."})
        return price, "request"
    if bot_id is not None:
        last = (
            GridBot.objects.filter(id=bot_id, market=market)
            .values_list("last_price", flat=True)
            .first()
        )
        if last:
            return last, "bot"
    return market.last_price, "market"


def _out(
    result: GridPreview, fig: Figures, source: str, account: ExchangeAccount, bot: GridBot
) -> dict[str, Any]:
    base = base_unit(fig.market)
    return {
        "symbol": fig.market.symbol,
        "base_unit": base,
        "quote_unit": QUOTE_UNIT,
        "price_decimals": fig.market.price_decimals,
        "size_decimals": fig.market.size_decimals,
        "reference_price": fig.price(result.reference_price),
        "price_source": source,
        "price_source_text": PRICE_SOURCES[source],
        "centre_price": fig.price(result.centre_price),
        "levels": [
            {
                "level": lv.level,
                "side": lv.side.value,
                "price": fig.price(lv.price),
                "size_base": fig.size(lv.size_base),
                "notional_quote": fig.money(lv.notional_quote),
                "step_profit_quote": fig.money(lv.step_profit_quote, SMALL_MONEY),
            }
            for lv in result.levels
        ],
        "buy_notional_quote": fig.money(result.buy_notional_quote),
        "sell_notional_quote": fig.money(result.sell_notional_quote),
        "capital_quote": fig.money(result.capital_quote),
        "leverage": str(bot.leverage.normalize()),
        "margin_quote": fig.money(result.margin_quote),
        "fee_rate_percent": str((result.fee_rate * 100).normalize()),
        "fee_source": f"{account.tier} tier, {'maker' if bot.post_only else 'taker'}",
        "step_profit_min_quote": (
            None
            if result.step_profit_min_quote is None
            else fig.money(result.step_profit_min_quote, SMALL_MONEY)
        ),
        "step_profit_min_percent": (
            None
            if result.step_profit_min_percent is None
            else str(result.step_profit_min_percent.quantize(SMALL_MONEY))
        ),
        "long_cap": _cap(result.long_cap, fig),
        "short_cap": _cap(result.short_cap, fig),
        "warnings": _warnings(result, fig, base),
    }


def _cap(cap: CapBind | None, fig: Figures) -> dict[str, Any] | None:
    if cap is None:
        return None
    return {
        "binds": cap.binds,
        "orders": cap.orders,
        "last_price": fig.price(cap.last_price),
        "position_base": fig.size(cap.position_base),
        "entry_price": fig.price(cap.entry_price),
        "liquidation_price": fig.price(cap.liquidation_price),
    }


def _warnings(result: GridPreview, fig: Figures, base: str) -> list[str]:
    warnings = []
    long, short = result.long_cap, result.short_cap
    if (
        long
        and long.liquidation_price
        and long.last_price
        and long.liquidation_price >= long.last_price
    ):
        warnings.append(
            f"A falling price would liquidate the long at about {fig.price(long.liquidation_price)}"
            f" before the position cap binds at {fig.price(long.last_price)}."
        )
    if (
        short
        and short.liquidation_price
        and short.last_price
        and short.liquidation_price <= short.last_price
    ):
        warnings.append(
            f"A rising price would liquidate the short at about "
            f"{fig.price(short.liquidation_price)} before the position cap binds at "
            f"{fig.price(short.last_price)}."
        )
    if result.step_profit_min_quote is not None and result.step_profit_min_quote <= 0:
        warnings.append("A grid step loses money after fees: widen the step.")
    for cap, way in ((long, "down"), (short, "up")):
        if cap is not None and not cap.binds:
            warnings.append(
                f"The position cap does not bind within {cap.orders} levels {way}: the position"
                f" can reach {fig.size(abs(cap.position_base))} {base}."
            )
    return warnings
