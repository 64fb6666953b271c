"""Counters and histograms that only a running process sees, shared through Redis.

Most of `/metrics` is read from the database and Redis at scrape time (`bots.notify.metrics`).
A few figures exist only inside a bot runner or the exchange client: 429 answers, stream
reconnects, reconcile corrections, lease renewals, fill -> replenish and hedge latencies. They are
recorded here and land in Redis, where the scrape reads them back.

Why Redis rather than prometheus-client's multiprocess mode: the runners live in Celery worker
processes, possibly on other machines than the web process that serves `/metrics`; the
multiprocess mode needs a directory shared by every process on one host. Redis is already
shared by all of them, so every process adds to one hash per metric (HINCRBYFLOAT) and any web
process exports the totals. Counters survive process restarts (they live in Redis), as
Prometheus counters should; losing Redis resets them, which `rate()` tolerates.

Callers pay a dict update under a lock: `counter_add` and `observe` buffer in memory and a
daemon thread flushes the buffer to Redis every `FLUSH_SECONDS` in one pipeline, so a runner
never waits on Redis for a metric. `flush()` pushes the buffer now (tests, shutdown).

Redis layout: `lighterweb:metrics:counter:<name>` hash, field = JSON list of label values (in
the declared order), value = total. `lighterweb:metrics:histogram:<name>` hash, fields
`<labels>|<upper bound>` (per-bucket counts, not cumulative), `<labels>|sum` and
`<labels>|count`.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "lighterweb:metrics"
FLUSH_SECONDS = 1.0
# Latencies from a millisecond to ten seconds (the grid's fill -> replenish p99 is ~20 ms).
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class CounterSpec:
    """A counter the runners may add to: its help text and label names."""

    help: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class HistogramSpec:
    """A histogram the runners may observe into: help text, label names, upper bounds."""

    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = LATENCY_BUCKETS_S


# Exported as lighterweb_<name>_total (counters) and lighterweb_<name>_bucket/_sum/_count.
COUNTERS: dict[str, CounterSpec] = {
    "rate_limited": CounterSpec("429 answers from Lighter, per L1 address", ("address",)),
    "stream_reconnects": CounterSpec("Websocket reconnects of a bot's streams", ("bot",)),
    "reconcile_corrections": CounterSpec(
        "Orders or positions a reconcile had to correct", ("bot",)
    ),
    "lease_renewals": CounterSpec("Lease renewals by a bot's heartbeat", ("bot",)),
}
HISTOGRAMS: dict[str, HistogramSpec] = {
    "fill_replenish_seconds": HistogramSpec(
        "Fill seen on the stream -> replenish order accepted", ("bot",)
    ),
    "hedge_seconds": HistogramSpec("Leg A fill -> hedge order filled on leg B", ("bot",)),
}


def counter_key(name: str) -> str:
    return f"{KEY_PREFIX}:counter:{name}"


def histogram_key(name: str) -> str:
    return f"{KEY_PREFIX}:histogram:{name}"


def _label_field(names: tuple[str, ...], labels: dict[str, object]) -> str:
    if set(labels) != set(names):
        raise ValueError(f"labels must be exactly {names}, got {sorted(labels)}")
    return json.dumps([str(labels[name]) for name in names])


class _Buffer:
    """Pending increments of this process, flushed to Redis by one daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], float] = defaultdict(float)
        self._pid = 0
        self._wake = threading.Event()

    def add(self, key: str, field: str, amount: float) -> None:
        with self._lock:
            self._pending[(key, field)] += amount
            if self._pid != os.getpid():
                # First use in this process (or after a fork): start its flusher.
                self._pid = os.getpid()
                threading.Thread(target=self._serve, name="lw-metrics", daemon=True).start()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, defaultdict(float)
        if not pending:
            return
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
        try:
            pipe = client.pipeline(transaction=False)
            for (key, field), amount in pending.items():
                pipe.hincrbyfloat(key, field, amount)
            pipe.execute()
        except (redis.RedisError, OSError) as exc:
            # Put them back: the next flush tries again (a metric is never worth failing a bot).
            with self._lock:
                for item, amount in pending.items():
                    self._pending[item] += amount
            logger.warning(
                "metrics flush to Redis failed, keeping %d series: %s", len(pending), exc
            )
        finally:
            client.close()

    def _serve(self) -> None:
        while True:
            self._wake.wait(FLUSH_SECONDS)
            self.flush()


_buffer = _Buffer()
atexit.register(_buffer.flush)


def counter_add(name: str, amount: float = 1.0, **labels: object) -> None:
    """Add `amount` to counter `name` (one of COUNTERS) for these labels; never blocks on I/O."""
    spec = COUNTERS[name]
    _buffer.add(counter_key(name), _label_field(spec.labels, labels), amount)


def observe(name: str, value_s: float, **labels: object) -> None:
    """Record one observation (seconds) in histogram `name` (one of HISTOGRAMS)."""
    spec = HISTOGRAMS[name]
    field = _label_field(spec.labels, labels)
    index = bisect_left(spec.buckets, value_s)
    bound = "+Inf" if index == len(spec.buckets) else repr(spec.buckets[index])
    key = histogram_key(name)
    _buffer.add(key, f"{field}|{bound}", 1)
    _buffer.add(key, f"{field}|sum", value_s)
    _buffer.add(key, f"{field}|count", 1)


def flush() -> None:
    """Write this process's pending increments to Redis now."""
    _buffer.flush()


# -- reading back (the scrape) -------------------------------------------------------------------


@dataclass(frozen=True)
class HistogramSeries:
    """One label set of a histogram: cumulative (upper bound, count) pairs, sum and count."""

    labels: tuple[str, ...]
    buckets: list[tuple[str, float]]
    sum_s: float
    count: float


def counters_read(client: redis.Redis, name: str) -> dict[tuple[str, ...], float]:
    """Totals of counter `name` per label values (declared order)."""
    raw: dict[bytes, bytes] = client.hgetall(counter_key(name))
    return {tuple(json.loads(field)): float(value) for field, value in raw.items()}


def histograms_read(client: redis.Redis, name: str) -> list[HistogramSeries]:
    """Every label set of histogram `name`, with cumulative buckets as Prometheus wants them."""
    spec = HISTOGRAMS[name]
    raw: dict[bytes, bytes] = client.hgetall(histogram_key(name))
    per_labels: dict[str, dict[str, float]] = defaultdict(dict)
    for field, value in raw.items():
        labels, _, part = field.decode().rpartition("|")
        per_labels[labels][part] = float(value)
    series = []
    bounds = [repr(bound) for bound in spec.buckets] + ["+Inf"]
    for labels, parts in sorted(per_labels.items()):
        running = 0.0
        cumulative = []
        for bound in bounds:
            running += parts.get(bound, 0.0)
            cumulative.append((bound, running))
        series.append(
            HistogramSeries(
                labels=tuple(json.loads(labels)),
                buckets=cumulative,
                sum_s=parts.get("sum", 0.0),
                count=parts.get("count", 0.0),
            )
        )
    return series
