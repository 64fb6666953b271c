"""The figures `/metrics` exports, read from the database and Redis when Prometheus scrapes.

A custom prometheus-client collector rather than counters kept in process memory: the bots run in
Celery workers, maybe on other machines, while the web process answers the scrape. The database
and Redis hold the truth for every process, so reading them at scrape time needs no multiprocess
mode and survives restarts. What only a runner sees (429s, reconnects, latencies) it records
through `lighterweb.metrics`, into Redis, and this collector exports it too.

Costs per scrape are bounded by keeping running totals per web process:
- fills and events are counted incrementally: rows with an id above the last one counted, at
  least SETTLE_SECONDS old (so a transaction still open is not skipped: its rows are counted
  when they settle; a runner's transaction takes milliseconds);
- a bot's PnL (a fold of its ledger) is recomputed when its counted fills or funding changed,
  and for a new mark price alone at most every PNL_REFRESH_SECONDS.
Prometheus values are floats by protocol; amounts are converted from Decimal only here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import redis
from django.conf import settings
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, Sum
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from bots import selectors
from bots.account_summaries import account_budget_usage
from bots.models import (
    BotEvent,
    BotStatus,
    DesiredState,
    ExchangeAccount,
    Fill,
    FundingPayment,
    GridBot,
    Market,
    NotificationChannel,
    Order,
)
from lighterweb import metrics as runner_metrics

logger = logging.getLogger(__name__)

SETTLE_SECONDS = 5.0
PNL_REFRESH_SECONDS = 30.0
CELERY_QUEUES = ("celery", "bots")
PNL_COMPONENTS = ("grid_profit", "other_realized", "unrealized", "fees", "funding", "total")
STRATEGY_GRID = "grid"
BOT_LABELS = ["bot", "name", "market"]


@dataclass
class _Totals:
    """Running totals of one web process, advanced at each scrape."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    last_fill_id: int = 0
    last_event_id: int = 0
    last_funding_id: int = 0
    # (bot id or None, market id) -> [fills, base volume, quote volume, fees]
    fills: dict[tuple[int | None, int], list[Decimal]] = field(default_factory=dict)
    events: dict[tuple[int, str, str], int] = field(default_factory=lambda: defaultdict(int))
    funding_count: dict[int | None, int] = field(default_factory=lambda: defaultdict(int))
    # bot id -> (change key, computed at monotonic time, summary)
    pnl: dict[int, tuple[tuple[Any, ...], float, Any]] = field(default_factory=dict)


_totals = _Totals()


def _settled() -> Any:
    return timezone.now() - timedelta(seconds=SETTLE_SECONDS)


def _advance_fills(totals: _Totals) -> None:
    quote = ExpressionWrapper(
        F("price") * F("size_base"), output_field=DecimalField(max_digits=40, decimal_places=20)
    )
    rows = (
        Fill.objects.filter(pk__gt=totals.last_fill_id, created_at__lte=_settled())
        .values("bot_id", "market_id")
        .annotate(
            n=Count("id"), base=Sum("size_base"), quote=Sum(quote), fees=Sum("fee"), top=Max("id")
        )
    )
    for row in rows:
        key = (row["bot_id"], row["market_id"])
        current = totals.fills.setdefault(key, [Decimal(0)] * 4)
        added = (row["n"], row["base"], row["quote"], row["fees"])
        for index, amount in enumerate(added):
            current[index] += Decimal(amount or 0)
        totals.last_fill_id = max(totals.last_fill_id, row["top"])


def _advance_events(totals: _Totals) -> None:
    rows = (
        BotEvent.objects.filter(pk__gt=totals.last_event_id, created_at__lte=_settled())
        .values("bot_id", "kind", "level")
        .annotate(n=Count("id"), top=Max("id"))
    )
    for row in rows:
        totals.events[(row["bot_id"], row["kind"], row["level"])] += row["n"]
        totals.last_event_id = max(totals.last_event_id, row["top"])


def _advance_funding(totals: _Totals) -> None:
    rows = (
        FundingPayment.objects.filter(pk__gt=totals.last_funding_id, created_at__lte=_settled())
        .values("bot_id")
        .annotate(n=Count("id"), top=Max("id"))
    )
    for row in rows:
        totals.funding_count[row["bot_id"]] += row["n"]
        totals.last_funding_id = max(totals.last_funding_id, row["top"])


def _float(value: Decimal | int | float) -> float:
    return float(value)


class LighterWebCollector(Collector):
    """Everything LighterWeb exports, gathered at scrape time."""

    def collect(self) -> Iterator[Metric]:
        bots = list(GridBot.objects.select_related("market", "account"))
        yield from _bot_families(bots)
        yield _order_family()
        with _totals.lock:
            _advance_fills(_totals)
            _advance_events(_totals)
            _advance_funding(_totals)
            yield from _fill_families(_totals, bots)
            yield _event_family(_totals)
            yield from _pnl_families(_totals, bots)
        yield _channel_family()
        yield from _redis_families(bots)

    def describe(self) -> Iterable[Metric]:
        return []  # no collect() at registration: it reads the database


def _bot_labels(bot: GridBot) -> list[str]:
    return [str(bot.pk), bot.name, bot.market.symbol]


def _bot_families(bots: list[GridBot]) -> Iterator[Metric]:
    by_status = GaugeMetricFamily(
        "lighterweb_bots", "Bots per status and strategy", labels=["status", "strategy"]
    )
    counts = {status: 0 for status in BotStatus.values}
    for bot in bots:
        counts[bot.status] = counts.get(bot.status, 0) + 1
    for status, count in counts.items():
        by_status.add_metric([status, STRATEGY_GRID], count)
    yield by_status
    desired = GaugeMetricFamily(
        "lighterweb_bots_desired", "Bots per desired state", labels=["desired_state", "strategy"]
    )
    wanted = {state: 0 for state in DesiredState.values}
    for bot in bots:
        wanted[bot.desired_state] = wanted.get(bot.desired_state, 0) + 1
    for state, count in wanted.items():
        desired.add_metric([state, STRATEGY_GRID], count)
    yield desired
    per_bot = GaugeMetricFamily(
        "lighterweb_bot_status", "1 for each bot's current status", labels=[*BOT_LABELS, "status"]
    )
    heartbeat = GaugeMetricFamily(
        "lighterweb_bot_heartbeat_age_seconds",
        "Seconds since the runner of a bot that should run last beat",
        labels=BOT_LABELS,
    )
    now = timezone.now()
    for bot in bots:
        per_bot.add_metric([*_bot_labels(bot), bot.status], 1)
        if bot.desired_state != DesiredState.STOPPED and bot.heartbeat_at is not None:
            heartbeat.add_metric(_bot_labels(bot), (now - bot.heartbeat_at).total_seconds())
    yield per_bot
    yield heartbeat


def _order_family() -> Metric:
    family = GaugeMetricFamily(
        "lighterweb_orders",
        "Orders that may rest on the book, per bot and status",
        labels=["bot", "status"],
    )
    rows = (
        Order.objects.filter(bot__isnull=False, status__in=selectors.LIVE_ORDER_STATUSES)
        .values("bot_id", "status")
        .annotate(n=Count("id"))
    )
    for row in rows:
        family.add_metric([str(row["bot_id"]), row["status"]], row["n"])
    return family


def _fill_families(totals: _Totals, bots: list[GridBot]) -> Iterator[Metric]:
    symbols = dict(Market.objects.values_list("pk", "symbol"))
    names: dict[int | None, str] = {bot.pk: bot.name for bot in bots}
    labels = ["bot", "name", "market"]
    families = [
        CounterMetricFamily("lighterweb_fills", "Fills recorded", labels=labels),
        CounterMetricFamily(
            "lighterweb_fill_volume_base", "Filled size, in base units", labels=labels
        ),
        CounterMetricFamily(
            "lighterweb_fill_volume_quote", "Filled notional, in quote", labels=labels
        ),
        CounterMetricFamily(
            "lighterweb_fill_fees_quote", "Fees paid (negative: rebates), in quote", labels=labels
        ),
    ]
    for (bot_id, market_id), values in sorted(totals.fills.items(), key=str):
        key = [
            "" if bot_id is None else str(bot_id),
            names.get(bot_id, ""),
            symbols.get(market_id, ""),
        ]
        for family, value in zip(families, values, strict=True):
            family.add_metric(key, _float(value))
    yield from families


def _event_family(totals: _Totals) -> Metric:
    family = CounterMetricFamily(
        "lighterweb_bot_events",
        "BotEvents per bot, kind and level",
        labels=["bot", "kind", "level"],
    )
    for (bot_id, kind, level), count in sorted(totals.events.items()):
        family.add_metric([str(bot_id), kind, level], count)
    return family


def _pnl_families(totals: _Totals, bots: list[GridBot]) -> Iterator[Metric]:
    pnl = GaugeMetricFamily(
        "lighterweb_bot_pnl_quote", "A bot's PnL split, in quote", labels=[*BOT_LABELS, "component"]
    )
    position = GaugeMetricFamily(
        "lighterweb_bot_position_base", "A bot's position, in base units", labels=BOT_LABELS
    )
    round_trips = GaugeMetricFamily(
        "lighterweb_bot_round_trips", "Closed grid round trips", labels=BOT_LABELS
    )
    fill_counts: dict[int | None, Decimal] = defaultdict(Decimal)
    for (bot_id, _), values in totals.fills.items():
        fill_counts[bot_id] += values[0]
    for bot in bots:
        key = (fill_counts[bot.pk], totals.funding_count[bot.pk])
        cached = totals.pnl.get(bot.pk)
        # New fills or funding: fold again now; only the price moved: at most every refresh.
        fresh = cached is not None and (
            cached[0] == (*key, bot.last_price)
            or (cached[0][:2] == key and time.monotonic() - cached[1] < PNL_REFRESH_SECONDS)
        )
        summary = cached[2] if fresh and cached is not None else selectors.bot_pnl(bot).summary
        if not fresh:
            totals.pnl[bot.pk] = ((*key, bot.last_price), time.monotonic(), summary)
        labels = _bot_labels(bot)
        for component in PNL_COMPONENTS:
            pnl.add_metric([*labels, component], _float(getattr(summary, component)))
        position.add_metric(labels, _float(summary.position_base))
        round_trips.add_metric(labels, summary.round_trips)
    yield from (pnl, position, round_trips)


def _channel_family() -> Metric:
    family = GaugeMetricFamily(
        "lighterweb_notification_channel_failures",
        "Failed deliveries in a row per notification channel (0: healthy)",
        labels=["channel", "kind"],
    )
    for name, kind, failures in NotificationChannel.objects.filter(enabled=True).values_list(
        "name", "kind", "consecutive_failures"
    ):
        family.add_metric([name, kind], failures)
    return family


def _redis_families(bots: list[GridBot]) -> Iterator[Metric]:
    yield from _budget_families(bots)
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        yield from _beat_family(client)
        yield from _runner_families(client)
    except (redis.RedisError, OSError) as exc:
        logger.warning("metrics: Redis unreadable, its series are left out: %s", exc)
    finally:
        client.close()
    yield from _queue_family()


def _budget_families(bots: list[GridBot]) -> Iterator[Metric]:
    used = GaugeMetricFamily(
        "lighterweb_request_budget_used",
        "Requests (standard) or weight (premium) spent in the rolling minute, per L1 address",
        labels=["address", "tier"],
    )
    limit = GaugeMetricFamily(
        "lighterweb_request_budget_limit",
        "The rolling minute's budget, per L1 address",
        labels=["address", "tier"],
    )
    seen: set[str] = set()
    accounts = ExchangeAccount.objects.filter(pk__in={bot.account_id for bot in bots})
    for account in accounts:
        address = account.l1_address or f"account-{account.account_index}"
        if address in seen:
            continue
        seen.add(address)
        usage = account_budget_usage(account)
        if usage is not None:
            used.add_metric([address, account.tier], usage.used)
            limit.add_metric([address, account.tier], usage.limit)
    yield from (used, limit)


def _beat_family(client: redis.Redis) -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "lighterweb_beat_heartbeat_age_seconds", "Seconds since celery beat's last heartbeat"
    )
    raw = client.get(settings.BEAT_HEARTBEAT_KEY)
    if raw is not None:
        family.add_metric([], max(0.0, time.time() - float(raw)))
    yield family


def _runner_families(client: redis.Redis) -> Iterator[Metric]:
    for name, spec in runner_metrics.COUNTERS.items():
        counter = CounterMetricFamily(f"lighterweb_{name}", spec.help, labels=list(spec.labels))
        for labels, value in sorted(runner_metrics.counters_read(client, name).items()):
            counter.add_metric(list(labels), value)
        yield counter
    for name, hspec in runner_metrics.HISTOGRAMS.items():
        histogram = HistogramMetricFamily(
            f"lighterweb_{name}", hspec.help, labels=list(hspec.labels)
        )
        for series in runner_metrics.histograms_read(client, name):
            histogram.add_metric(list(series.labels), series.buckets, series.sum_s)
        yield histogram


def _queue_family() -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "lighterweb_celery_queue_length", "Tasks waiting in a Celery queue", labels=["queue"]
    )
    broker = str(settings.CELERY_BROKER_URL)
    if broker.startswith(("redis://", "rediss://", "unix://")):
        client = redis.Redis.from_url(broker, socket_timeout=1, socket_connect_timeout=1)
        try:
            for queue in CELERY_QUEUES:
                family.add_metric([queue], int(client.llen(queue)))
        except (redis.RedisError, OSError) as exc:
            logger.warning("metrics: broker unreadable, queue lengths left out: %s", exc)
        finally:
            client.close()
    yield family
