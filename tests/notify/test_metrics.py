"""/metrics: the series after a paper run of a grid, and who may read them."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from bots.models import Fill, GridBot
from lighterweb import metrics as runner_metrics
from tests.bots.runner_support import (
    account_on,
    finish,
    grid_bot,
    quiet,
    set_desired,
    sim_open_orders,
    start_runners,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "metrics-token-for-tests"


@pytest.fixture(autouse=True)
def _stack(settings, redis_url, redis_client):
    settings.REDIS_URL = redis_url
    settings.CELERY_BROKER_URL = redis_url
    settings.METRICS_TOKEN = TOKEN


def scrape(**extra) -> dict[str, list]:
    """GET /metrics as Prometheus would; sample name -> [(labels, value)]."""
    response = Client().get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        samples.setdefault(family.name, [])
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict[str, list], name: str, **labels: str) -> float:
    found = [v for got, v in samples.get(name, []) if labels.items() <= got.items()]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


@pytest.fixture
def eth_bot(simulator, funded_account):
    return grid_bot(account_on(simulator, funded_account), "ETH", levels=5)


async def test_metrics_after_a_paper_run_of_a_grid(
    simulator, funded_account, eth_bot, closes_db_threads
):
    bot = str(eth_bot.pk)
    (runner,), (task,) = await start_runners([eth_bot])

    async def full_and_quiet() -> bool:
        orders = sim_open_orders(simulator, funded_account.index, 0)
        return quiet(runner, simulator) and len(orders) == 10

    await wait_until(full_and_quiet, what="a full grid")
    running = await sync_to_async(scrape)()
    assert value(running, "lighterweb_bots", status="running", strategy="grid") == 1
    assert value(running, "lighterweb_bot_status", bot=bot, status="running", market="ETH") == 1
    assert 0 <= value(running, "lighterweb_bot_heartbeat_age_seconds", bot=bot) < 60
    assert sum(v for labels, v in running["lighterweb_orders"] if labels["bot"] == bot) == 10
    used = value(running, "lighterweb_request_budget_used", address=funded_account.l1_address)
    assert used > 0
    assert value(running, "lighterweb_request_budget_limit", tier="premium") == 24_000
    assert value(running, "lighterweb_celery_queue_length", queue="bots") == 0

    simulator.sim("POST", "/sim/price", {"market_id": 0, "price": "2978.00"})
    simulator.advance(1000)

    async def fills_recorded() -> bool:
        return await sync_to_async(Fill.objects.filter(bot=eth_bot).count)() >= 3

    await wait_until(fills_recorded, what="fills")
    await sync_to_async(set_desired)(eth_bot, "stopped")
    assert await finish(task) == "stopped"
    fills = await sync_to_async(lambda: list(Fill.objects.filter(bot=eth_bot)))()
    # Rows count once they are SETTLE_SECONDS old: scrape until the counters caught up.
    latest: dict[str, list] = {}

    async def counted() -> bool:
        latest.update(await sync_to_async(scrape)())
        counted = [
            v for labels, v in latest.get("lighterweb_fills_total", []) if labels["bot"] == bot
        ]
        stopped = [
            v
            for labels, v in latest.get("lighterweb_bot_events_total", [])
            if labels["bot"] == bot and labels["kind"] == "stopped"
        ]
        return counted == [len(fills)] and stopped == [1]

    await wait_until(counted, timeout_s=30, what="fills counted")
    after = latest
    volume = sum(f.price * f.size_base for f in fills)
    assert value(after, "lighterweb_fill_volume_quote_total", bot=bot, market="ETH") == float(
        volume
    )
    assert value(after, "lighterweb_fill_volume_base_total", bot=bot) == float(
        sum(f.size_base for f in fills)
    )
    assert value(after, "lighterweb_bot_position_base", bot=bot) == float(
        sum(f.size_base if f.side == "buy" else -f.size_base for f in fills)
    )
    assert value(after, "lighterweb_bot_pnl_quote", bot=bot, component="fees") == float(
        sum(f.fee for f in fills)
    )
    assert value(after, "lighterweb_bots", status="stopped", strategy="grid") == 1
    assert value(after, "lighterweb_bot_events_total", bot=bot, kind="fill", level="info") == len(
        fills
    )
    assert value(after, "lighterweb_bot_events_total", bot=bot, kind="stopped", level="info") == 1
    assert await sync_to_async(GridBot.objects.filter(pk=eth_bot.pk, status="stopped").exists)()
    # The figures only a runner sees are declared even before any runner reports them.
    for name in ("lighterweb_rate_limited", "lighterweb_fill_replenish_seconds"):
        assert name in after

    # ...and the runner reports them: each fill's replenish latency.
    async def latency_reported() -> bool:
        latest.update(await sync_to_async(scrape)())
        counts = [
            v
            for labels, v in latest.get("lighterweb_fill_replenish_seconds_count", [])
            if labels.get("bot") == bot
        ]
        return bool(counts) and counts[0] >= 1

    await wait_until(latency_reported, timeout_s=30, what="fill -> replenish latency reported")


def test_runner_figures_recorded_in_another_process_reach_the_scrape(redis_client):
    runner_metrics.counter_add("stream_reconnects", bot=41)
    runner_metrics.counter_add("stream_reconnects", 2, bot=41)
    runner_metrics.counter_add("rate_limited", address="0xabc")
    for seconds in (0.004, 0.02, 0.02, 30.0):
        runner_metrics.observe("fill_replenish_seconds", seconds, bot=41)
    runner_metrics.flush()

    samples = scrape()

    assert value(samples, "lighterweb_stream_reconnects_total", bot="41") == 3
    assert value(samples, "lighterweb_rate_limited_total", address="0xabc") == 1
    buckets = {labels["le"]: v for labels, v in samples["lighterweb_fill_replenish_seconds_bucket"]}
    assert (buckets["0.005"], buckets["0.01"], buckets["0.025"], buckets["10.0"]) == (1, 1, 3, 3)
    assert buckets["+Inf"] == 4
    assert value(samples, "lighterweb_fill_replenish_seconds_count", bot="41") == 4
    assert value(samples, "lighterweb_fill_replenish_seconds_sum", bot="41") == pytest.approx(
        30.044
    )


def test_a_runner_metric_with_wrong_labels_is_refused():
    with pytest.raises(ValueError, match="labels must be exactly"):
        runner_metrics.counter_add("stream_reconnects", account=1)


@pytest.mark.parametrize(
    ("extra", "allowed"),
    [
        ({"REMOTE_ADDR": "127.0.0.1"}, True),
        ({"REMOTE_ADDR": "::1"}, True),
        ({"REMOTE_ADDR": "203.0.113.9"}, False),
        ({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}, False),
        ({"REMOTE_ADDR": "203.0.113.9", "HTTP_AUTHORIZATION": "Bearer wrong"}, False),
        ({"REMOTE_ADDR": "203.0.113.9", "HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}, True),
        ({"REMOTE_ADDR": "127.0.0.1", "HTTP_AUTHORIZATION": "Bearer wrong"}, False),
    ],
)
def test_only_loopback_or_the_token_may_read_the_metrics(extra, allowed):
    response = Client().get("/metrics", **extra)

    assert response.status_code == (200 if allowed else 401)
    if not allowed:
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"lighterweb_" not in response.content


def test_without_a_token_configured_remote_callers_are_refused(settings):
    settings.METRICS_TOKEN = ""

    remote = Client().get("/metrics", REMOTE_ADDR="198.51.100.7", HTTP_AUTHORIZATION="Bearer ")

    assert remote.status_code == 401
