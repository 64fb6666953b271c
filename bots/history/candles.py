"""Candles of a bot's market for its price chart: the venue's candlesticks, read through the
account's client (its request budget) and cached in Redis per (network, market, resolution) for
`CACHE_SECONDS`, so any number of open pages costs at most one request per key that often.

The page asks once on load and on a resolution switch, then every `REFRESH_SECONDS` (the live
mark pushes move the last candle in between: static/dashboard/bot.js).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from redis.exceptions import RedisError

from bots.models import GridBot
from exchange.redis_clients import redis_client

logger = logging.getLogger(__name__)

RESOLUTIONS_MS: dict[str, int] = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000}
BUCKETS = 300  # one call of the venue's 500-per-call limit
CACHE_SECONDS = 10
SKEW_MS = 3_600_000
REFRESH_SECONDS = 60
CACHE_KEY = "lighterweb:candles:{network}:{market_id}:{resolution}"


@dataclass(frozen=True)
class CandleRow:
    """One OHLCV bucket; `time` is its start in epoch seconds, figures exact decimal strings."""

    time: int
    open: str
    high: str
    low: str
    close: str
    volume: str


def bot_candles(bot: GridBot, resolution: str, now_ms: int | None = None) -> list[CandleRow]:
    """The last BUCKETS candles of `bot`'s market at `resolution`, oldest first (cached)."""
    market = bot.market
    key = CACHE_KEY.format(
        network=market.network, market_id=market.market_id, resolution=resolution
    )
    cached = _cache_get(key)
    if cached is not None:
        return [CandleRow(**row) for row in cached]
    rows = _fetch(bot, resolution, int(time.time() * 1000) if now_ms is None else now_ms)
    _cache_set(key, [row.__dict__ for row in rows])
    return rows


def _fetch(bot: GridBot, resolution: str, now_ms: int) -> list[CandleRow]:
    from bots.engine.controls import exchange_run

    step = RESOLUTIONS_MS[resolution]
    start = now_ms - now_ms % step - step * (BUCKETS - 1)
    account, market_id = bot.account, bot.market.market_id

    async def read() -> list[Any]:
        async with account.client(signing=False) as client:
            # Up to an hour ahead: the current bucket is the live candle, and a venue clock ahead
            # of ours (the simulator's manual clock) still shows its newest trades; within one
            # call of 500 candles at every resolution.
            return await client.candles(market_id, resolution, start, now_ms + SKEW_MS)

    return [
        CandleRow(
            time=c.timestamp_ms // 1000,
            open=str(c.open),
            high=str(c.high),
            low=str(c.low),
            close=str(c.close),
            volume=str(c.volume_base),
        )
        for c in exchange_run(account, read)
    ]


def _cache_get(key: str) -> list[dict[str, Any]] | None:
    try:
        client = redis_client(settings.REDIS_URL, timeout_s=0.5)
        try:
            raw = client.get(key)
        finally:
            client.close()
    except (RedisError, OSError) as exc:
        logger.warning("candle cache unreadable: %s", exc)
        return None
    return None if raw is None else json.loads(raw)


def _cache_set(key: str, rows: list[dict[str, Any]]) -> None:
    try:
        client = redis_client(settings.REDIS_URL, timeout_s=0.5)
        try:
            client.set(key, json.dumps(rows), ex=CACHE_SECONDS)
        finally:
            client.close()
    except (RedisError, OSError) as exc:
        logger.warning("candle cache not written: %s", exc)
