"""A backtest end to end in a real Chromium: the "Backtest" action on a grid bot, its range
form, a real Celery worker on the default queue running it, and the result page whose two charts
(the vendored lightweight-charts) draw, with no script error and no Content-Security-Policy
violation; and the chart of the stored candles."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from bots.backtest import csvfile, store
from bots.backtest.synthetic import gbm_candles
from bots.models import Backtest
from lighterweb.redis_server import free_port
from tests.browser import live_stack
from tests.lighterweb.factories import make_account, make_bot, make_market

live_stack.require_browser()

import playwright.sync_api as playwright_sync  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

USERNAME = "backtest-admin"
PASSWORD = "backtest-test-password-1"
LOGS = live_stack.ARTIFACTS / "browser-backtest"
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


DONE_WITHIN_S = 120.0


def default_worker(env: dict[str, str]) -> Any:
    """A Celery worker on the default queue, as the Procfile's `worker` runs it."""
    command = [
        live_stack._bin("celery"), "-A", "lighterweb", "worker", "-Q", "celery", "-P", "solo",
        "-n", f"default-test-{os.getpid()}@%h", "--without-heartbeat", "--without-gossip",
        "--without-mingle",
    ]  # fmt: skip
    return live_stack.running(command, env, LOGS / "worker.log")


@pytest.fixture
def site(redis_url: str, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = redis_url
    env = live_stack.stack_env(live_stack.database_url(connection.settings_dict), redis_url)
    port = free_port()
    with live_stack.daphne(env, port, LOGS / "daphne.log"), default_worker(env):
        yield f"http://127.0.0.1:{port}"


def test_result_page_draws_price_fills_and_equity(site: str) -> None:
    get_user_model().objects.create_superuser(USERNAME, password=PASSWORD)
    market = make_market(network="paper", market_id=0, symbol="ETH", last_price=Decimal(4000))
    bot = make_bot(make_account(), market, step=Decimal("4"), levels_per_side=3)
    series = gbm_candles(720, seed=3, start_price=4000.0, volatility=1.5)
    parsed = csvfile.ParsedFile(
        [
            csvfile.CsvCandle(t, o, h, low, c, Decimal(1))
            for t, o, h, low, c in zip(
                series.times, series.opens, series.highs, series.lows, series.closes, strict=True
            )
        ],
        len(series),
        0,
        0,
    )
    store.import_parsed("paper", 0, parsed)
    connection.close()  # the browser's server reads the rows from its own connection

    errors: list[str] = []
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=live_stack.CHROMIUM, args=live_stack.CHROMIUM_ARGS
        )
        page = browser.new_context().new_page()
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{site}/admin/login/?next=/admin/")
        page.fill("#id_username", USERNAME)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        playwright_sync.expect(page).to_have_url(f"{site}/admin/")
        page.goto(f"{site}/admin/bots/gridbot/")
        page.check(f"input[name=_selected_action][value='{bot.pk}']")
        page.select_option("select[name=action]", "backtest_action")
        page.click("button[name=index]")
        # The range form offers the stored range (the series' only day).
        playwright_sync.expect(page.locator("#id_start")).to_have_value("2025-01-01")
        page.select_option("#id_tier", "premium")
        page.click("input[value='Run the backtest']")
        playwright_sync.expect(page).to_have_url(re.compile(r"/admin/bots/backtest/\d+/change/$"))
        deadline = time.monotonic() + DONE_WITHIN_S
        while "Done" not in page.locator("#backtest-status").inner_text():
            assert time.monotonic() < deadline, "the worker did not finish the backtest"
            page.wait_for_timeout(300)
            page.reload()
        page.wait_for_load_state("networkidle")
        playwright_sync.expect(page.locator("body")).to_have_attribute(
            "data-backtest-chart", "drawn"
        )
        for chart in ("#price-chart", "#equity-chart"):
            canvas = page.locator(f"{chart} canvas").first
            playwright_sync.expect(canvas).to_be_visible()
            box = canvas.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 100
        playwright_sync.expect(page.locator("#backtest-figures")).to_contain_text("Grid profit")
        # The stored candles' chart, linked from the coverage list.
        page.goto(f"{site}/admin/bots/candle/")
        page.click("#candle-coverage a:has-text('chart')")
        page.wait_for_load_state("networkidle")
        playwright_sync.expect(page.locator("body")).to_have_attribute("data-candle-chart", "drawn")
        playwright_sync.expect(page.locator("#candle-chart canvas").first).to_be_visible()
        violations = page.evaluate("window.__cspViolations")
        browser.close()

    assert errors == []
    assert violations == []
    backtest = Backtest.objects.get()
    assert backtest.tier == "premium" and backtest.results["candles"] == 720
    assert backtest.fills, "the series makes fills: the chart has markers"


def test_sweep_page_sorts_and_shows_the_heat_map(site: str) -> None:
    from bots.backtest import sweeps

    get_user_model().objects.create_superuser(USERNAME, password=PASSWORD)
    market = make_market(network="paper", market_id=0, symbol="ETH", last_price=Decimal(4000))
    bot = make_bot(make_account(), market, step=Decimal("4"), levels_per_side=3)
    series = gbm_candles(240, seed=4, start_price=4000.0, volatility=1.5)
    rows = [
        csvfile.CsvCandle(t, o, h, low, c, Decimal(1))
        for t, o, h, low, c in zip(
            series.times, series.opens, series.highs, series.lows, series.closes, strict=True
        )
    ]
    store.import_parsed("paper", 0, csvfile.ParsedFile(rows, len(rows), 0, 0))
    params = {"spacing_mode": ["arithmetic"], "step": ["2", "4", "8"],
              "levels_per_side": [2, 4], "size": ["0.01"]}  # fmt: skip
    sweep = sweeps.sweep_create(bot, params, series.times[0], series.times[-1] + 60_000,
                                tier="premium", slippage_bps=Decimal(5))  # fmt: skip
    assert sweeps.sweep_execute(sweep.pk) == "done"
    connection.close()

    errors: list[str] = []
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=live_stack.CHROMIUM, args=live_stack.CHROMIUM_ARGS
        )
        page = browser.new_context().new_page()
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{site}/admin/login/?next=/admin/")
        page.fill("#id_username", USERNAME)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        playwright_sync.expect(page).to_have_url(f"{site}/admin/")
        page.goto(f"{site}/admin/bots/backtestsweep/{sweep.pk}/change/")
        page.wait_for_load_state("networkidle")
        playwright_sync.expect(page.locator("#sweep-heat td.heat-9").first).to_be_visible()
        page.click("#sweep-results thead th:has-text('total')")
        column = page.locator("#sweep-results tbody tr td:nth-child(5)").all_inner_texts()
        totals = [Decimal(text) for text in column]
        assert len(totals) == 6 and totals == sorted(totals, reverse=True)
        violations = page.evaluate("window.__cspViolations")
        browser.close()

    assert errors == [] and violations == []
