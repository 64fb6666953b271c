"""Prices of the hedge bot: A's maker price from the book, B's worst price from the slippage.

Rounding goes through the grid's one helper (`round_price`): a buy's price rounds down to the
tick, a sell's up. For A's maker order that keeps it on its side of the book; for B's worst price
it is the conservative direction (the hedge never accepts more slippage than configured).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal

from bots.strategies.grid.config import Side, round_price
from bots.strategies.grid.plan import MarketView

from .config import HedgeConfig, PriceMode
from .events import BookLevels

_CTX = Context(prec=40, rounding=ROUND_HALF_EVEN)
_ONE = Decimal(1)
_BPS = Decimal("0.0001")


def maker_price(
    config: HedgeConfig, side: Side, market: MarketView, levels: BookLevels | None
) -> Decimal | None:
    """A's post-only price on `side` now, or None when the book gives no usable price.

    Level mode: the n-th price of `side`'s book (`levels`; with fewer levels known, the deepest
    known; without any, the best price). Offset mode: the best price of `side` moved away from
    the touch by `offset_bps` (negative: into the spread). Either way a buy stays below the best
    ask and a sell above the best bid, so the order never takes liquidity.
    """
    best = market.best_bid if side is Side.BUY else market.best_ask
    reference = best if best is not None else market.mid
    if config.price_mode is PriceMode.LEVEL:
        known = (levels.bids if side is Side.BUY else levels.asks) if levels else ()
        if config.book_level > 1 and known:
            reference = known[min(config.book_level, len(known)) - 1]
        raw = reference
    else:
        offset = _CTX.multiply(config.offset_bps, _BPS)
        raw = _CTX.multiply(reference, _ONE - offset if side is Side.BUY else _ONE + offset)
    price = round_price(raw, config.tick_size, side)
    tick = config.tick_size
    if side is Side.BUY and market.best_ask is not None and price >= market.best_ask:
        price = market.best_ask - tick
    elif side is Side.SELL and market.best_bid is not None and price <= market.best_bid:
        price = market.best_bid + tick
    return price if price > 0 else None


def worst_price(config: HedgeConfig, side: Side, market: MarketView) -> Decimal:
    """The worst average price B's market order on `side` accepts: the price it would take
    (best ask for a buy, best bid for a sell, the mid when that side is empty) moved by
    `max_slippage_bps` against us, rounded to the tick towards less slippage."""
    touch = market.best_ask if side is Side.BUY else market.best_bid
    reference = touch if touch is not None else market.mid
    slip = _CTX.multiply(config.max_slippage_bps, _BPS)
    raw = _CTX.multiply(reference, _ONE + slip if side is Side.BUY else _ONE - slip)
    price = round_price(raw, config.tick_size, side)
    # A sell's worst price rounds up, so it stays positive; a buy's never falls below the touch.
    return max(price, config.tick_size)
