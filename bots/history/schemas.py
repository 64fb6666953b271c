"""API shapes of the chart history: candles and PnL over time (figures as decimal strings)."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema

from bots.schemas import Money, Quote


class CandleOut(Schema):
    """One candle of the venue's candlesticks; `time` is the bucket start in epoch seconds."""

    time: int
    open: str
    high: str
    low: str
    close: str
    volume: str


class CandlesOut(Schema):
    """The last candles of a bot's market, oldest first; re-read at most every `cached_seconds`."""

    bot_id: int
    symbol: str
    resolution: str
    cached_seconds: int
    candles: list[CandleOut]


class PnlPointOut(Schema):
    """A bot's (or an account's summed) PnL at `time`; amounts in quote (USDC).

    `total = realized + inventory - fees + funding`. `position` (base units) and `mark` per bot
    only."""

    time: datetime
    total: Quote
    realized: Quote
    inventory: Quote
    fees: Quote
    funding: Quote
    position: Money | None = None
    mark: Money | None = None
