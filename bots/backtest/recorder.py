"""The recorder: 1-minute candles and hourly funding rates from the venue into the store.

Per network that has an account, the oldest account's budget carries the recorder's requests
(Lighter counts per L1 address). The recorder yields to the bots: before each request it looks
at that shared budget and stops for this run once `RECORDER_SHARE` of the rolling minute is
used, so it can never push a trading account towards a 429; the next run resumes. Each run
fetches at most `MAX_PAGES` pages (499 minutes each) of candles per market, forward from where
the store ends (or from `BACKFILL_DAYS` back, Lighter's rolling window), closed minutes only,
and one page of funding rates when an hour has passed. Redis cursors per market remember how far
the venue has been read, so empty stretches (no trades, before the venue's window) are not asked
again.

Besides, the recorder never holds more than its own share of a minute, `RECORDER_RUN_DIVISOR`-th
of the bots' routine lane (9 of a standard account's 37): a counter per budget, in Redis, that
starts with its first request and lasts the venue's window. A long backfill on a fresh stack
would otherwise take half the minute in the seconds after each beat, and the trader's first
grid starts (8 requests each) would wait up to a minute for the budget; with the share, three
grid starts fit beside it (tests/bots/backtest/test_recorder.py). The backfill is slower for it:
130 days of three markets (~1,100 pages) take about two hours on a standard account.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Max

from bots.backtest import store
from bots.models import Candle, ExchangeAccount, FundingRate, Market
from exchange.budget import weight_for
from exchange.redis_clients import redis_client

if TYPE_CHECKING:
    from exchange.budget import RequestBudget
    from exchange.client import LighterClient

logger = logging.getLogger(__name__)

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
# Lighter serves 500 buckets a call; a page asks up to the last millisecond of its last minute
# (the simulator buckets trades with timestamps up to `end`), so 499 minutes stay in one call.
PAGE_MINUTES = 499
MAX_PAGES = 10
BACKFILL_DAYS = 130
RECORDER_SHARE = Decimal("0.5")
RECORDER_RUN_DIVISOR = 4
CURSOR_KEY = "lighterweb:recorder:{network}:{market_id}"
SPENT_KEY = "lighterweb:recorder:spent:{budget}"


@dataclass
class Fetched:
    """What one run read from the venue for one market."""

    candles: list[Candle] = field(default_factory=list)
    rates: list[FundingRate] = field(default_factory=list)
    next_start_ms: int = 0
    next_funding_ms: int = 0
    pages: int = 0  # candle requests
    requests: int = 0
    yielded: bool = False


def _spent_key(budget: RequestBudget) -> str:
    return SPENT_KEY.format(budget=budget.key.lower())


def _share(budget: RequestBudget) -> int:
    """What the recorder may hold of a minute, in the budget's units."""
    return budget.routine_limit // RECORDER_RUN_DIVISOR


async def has_room(budget: RequestBudget, endpoint: str = "candles") -> bool:
    """Whether the recorder could make a request of `endpoint` now: the bots have not used
    `RECORDER_SHARE` of the minute and the recorder's own share has room (nothing is taken)."""
    usage = await budget.usage()
    if usage.used >= usage.limit * RECORDER_SHARE:
        return False
    spent = int(await budget.redis.get(_spent_key(budget)) or 0)
    return spent + budget.cost(weight_for(endpoint)) <= _share(budget)


async def _take_room(client: LighterClient, endpoint: str) -> bool:
    """`has_room`, and if so the request's cost taken from the recorder's own share."""
    budget = client.budget
    if budget is None:
        return True
    if not await has_room(budget, endpoint):
        return False
    key, cost = _spent_key(budget), budget.cost(weight_for(endpoint))
    # The share's window starts with its first request and lasts the venue's window; a later
    # increment keeps the expiry, so a crash between the two calls cannot leave it forever.
    await budget.redis.set(key, 0, nx=True, px=int(budget.window_s * 1000))
    if int(await budget.redis.incrby(key, cost)) > _share(budget):
        await budget.redis.decrby(key, cost)  # another run took the room meanwhile
        return False
    return True


async def fetch_market(
    client: LighterClient,
    network: str,
    market_id: int,
    start_ms: int,
    now_ms: int,
    funding_from_ms: int,
) -> Fetched:
    """Read closed 1-minute candles from `start_ms` on (at most MAX_PAGES pages) and one page of
    funding rates from `funding_from_ms`, stopping early when the bots need the budget."""
    last_closed = now_ms - now_ms % MINUTE_MS - MINUTE_MS
    out = Fetched(next_start_ms=start_ms)
    page_start = start_ms
    while page_start <= last_closed and out.requests < MAX_PAGES:
        if not await _take_room(client, "candles"):
            out.yielded = True
            return out
        page_end = min(last_closed, page_start + (PAGE_MINUTES - 1) * MINUTE_MS)
        for c in await client.candles(market_id, "1m", page_start, page_end + MINUTE_MS - 1):
            out.candles.append(
                Candle(
                    network=network,
                    market_id=market_id,
                    open_time_ms=c.timestamp_ms,
                    open=c.open,
                    high=c.high,
                    low=c.low,
                    close=c.close,
                    volume=c.volume_base,
                )
            )
        out.requests += 1
        out.pages += 1
        page_start = page_end + MINUTE_MS
        out.next_start_ms = page_start
    last_hour = now_ms - now_ms % HOUR_MS
    out.next_funding_ms = funding_from_ms
    if funding_from_ms <= last_hour:
        if not await _take_room(client, "fundings"):
            out.yielded = True
            return out
        for rate in await client.fundings(market_id, funding_from_ms // 1000, last_hour // 1000):
            t = rate.timestamp_s * 1000
            if t % HOUR_MS == 0 and funding_from_ms <= t <= last_hour:
                out.rates.append(
                    FundingRate(network=network, market_id=market_id, time_ms=t, rate=rate.rate)
                )
        out.requests += 1
        out.next_funding_ms = last_hour + HOUR_MS
    return out


@dataclass(frozen=True)
class MarketReport:
    """One market's run: rows stored, requests made, whether it yielded to the bots."""

    market_id: int
    candles: int
    rates: int
    pages: int
    requests: int
    yielded: bool


def record_network(
    account: ExchangeAccount, now_ms: int | None = None, backfill_days: int = BACKFILL_DAYS
) -> list[MarketReport]:
    """One recorder run for every synced market of the account's network."""
    from bots.engine.controls import exchange_run

    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    redis = redis_client(settings.REDIS_URL)
    reports: list[MarketReport] = []
    try:
        for market in Market.objects.filter(network=account.network).order_by("market_id"):
            start = _start_ms(redis, market, now_ms, backfill_days)
            funding_from = _funding_from_ms(redis, market, now_ms)

            async def fetch(market: Market = market, start: int = start,
                            funding_from: int = funding_from) -> Fetched:  # fmt: skip
                async with account.client(signing=False) as client:
                    return await fetch_market(
                        client, market.network, market.market_id, start, now_ms, funding_from
                    )

            fetched = exchange_run(account, fetch)
            store.store_candles(market.network, market.market_id, fetched.candles)
            FundingRate.objects.bulk_create(fetched.rates, ignore_conflicts=True)
            redis.set(_cursor_key(market), fetched.next_start_ms)
            redis.set(_cursor_key(market) + ":funding", fetched.next_funding_ms)
            reports.append(
                MarketReport(
                    market.market_id,
                    len(fetched.candles),
                    len(fetched.rates),
                    fetched.pages,
                    fetched.requests,
                    fetched.yielded,
                )
            )
            if fetched.yielded:
                break  # the bots need the budget: the rest waits for the next run
    finally:
        redis.close()
    return reports


def _cursor_key(market: Market) -> str:
    return CURSOR_KEY.format(network=market.network, market_id=market.market_id)


def _start_ms(redis: object, market: Market, now_ms: int, backfill_days: int) -> int:
    cursor = redis.get(_cursor_key(market))  # type: ignore[attr-defined]
    if cursor is not None:
        return int(cursor)
    last = Candle.objects.filter(network=market.network, market_id=market.market_id).aggregate(
        last=Max("open_time_ms")
    )["last"]
    if last is not None:
        return int(last) + MINUTE_MS
    start = now_ms - backfill_days * 86_400_000
    return start - start % MINUTE_MS


def _funding_from_ms(redis: object, market: Market, now_ms: int) -> int:
    cursor = redis.get(_cursor_key(market) + ":funding")  # type: ignore[attr-defined]
    if cursor is not None:
        return int(cursor)
    last = FundingRate.objects.filter(network=market.network, market_id=market.market_id).aggregate(
        last=Max("time_ms")
    )["last"]
    if last is not None:
        return int(last) + HOUR_MS
    # One page (500 hours) back at first: older rates come from funding_import.
    start = now_ms - 499 * HOUR_MS
    return start - start % HOUR_MS


def record_all(now_ms: int | None = None) -> dict[str, list[MarketReport]]:
    """One run per network that has an account (the oldest account carries the requests)."""
    done: dict[str, list[MarketReport]] = {}
    for account in ExchangeAccount.objects.order_by("pk"):
        if account.network in done:
            continue
        try:
            done[account.network] = record_network(account, now_ms)
        except Exception as exc:  # one network's outage must not stop the others
            logger.warning("recorder: %s: %s", account.network, exc)
            done[account.network] = []
    return done
