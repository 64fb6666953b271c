"""A large CSV upload in a real Chromium: the admin's upload form hands the file to a real
default-queue worker, the next page's bar polls the import's progress to done and shows the
report; a bad file shows the row and field at fault. No script error, no CSP violation."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from bots.backtest.synthetic import gbm_candles
from bots.models import Candle
from lighterweb.redis_server import free_port
from tests.browser import live_stack
from tests.lighterweb.factories import make_market

live_stack.require_browser()

import playwright.sync_api as playwright_sync  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

USERNAME = "upload-admin"
PASSWORD = "upload-test-password-1"
LOGS = live_stack.ARTIFACTS / "browser-candle-upload"
ROWS = 100_000
DONE_WITHIN_MS = 180_000
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture
def site(redis_url: str, settings, tmp_path: Path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = redis_url
    env = live_stack.stack_env(live_stack.database_url(connection.settings_dict), redis_url)
    env["CANDLE_UPLOAD_DIR"] = str(tmp_path / "uploads")  # the web's and the worker's
    worker = [
        live_stack._bin("celery"), "-A", "lighterweb", "worker", "-Q", "celery", "-c", "1",
        "-n", f"upload-test-{os.getpid()}@%h", "--without-heartbeat", "--without-gossip",
        "--without-mingle",
    ]  # fmt: skip
    port = free_port()
    with (
        live_stack.daphne(env, port, LOGS / "daphne.log"),
        live_stack.running(worker, env, LOGS / "worker.log"),
    ):
        yield f"http://127.0.0.1:{port}"


def write_csv(path: Path, minutes: int) -> Path:
    s = gbm_candles(minutes, seed=7, start_price=4000.0, volatility=1.5)
    with path.open("w") as out:
        out.write("timestamp,open,high,low,close,volume\n")
        for t, o, h, low, c in zip(s.times, s.opens, s.highs, s.lows, s.closes, strict=True):
            out.write(f"{t},{o},{h},{low},{c},1\n")
    return path


def upload(page: Any, site: str, path: Path) -> None:
    page.goto(f"{site}/admin/bots/candle/upload/")
    page.select_option("#id_network", "paper")
    page.fill("#id_market", "ETH")
    page.set_input_files("#id_file", str(path))
    page.click("input[value='Import']")
    playwright_sync.expect(page).to_have_url(
        re.compile(r"/admin/bots/candle/upload/[0-9a-f]{32}/$")
    )


def test_upload_progress_reaches_done_with_the_report(site: str, tmp_path: Path) -> None:
    get_user_model().objects.create_superuser(USERNAME, password=PASSWORD)
    make_market(network="paper", market_id=0, symbol="ETH")
    good = write_csv(tmp_path / "eth.csv", ROWS)
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close\n1735689600,100,101,99,100\n1735689660,1,x,1,1\n")
    connection.close()  # the site's processes use their own connections

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

        upload(page, site, good)
        seen: list[int] = []
        bar = page.locator("#import-progress")
        while page.locator("#candle-import").get_attribute("data-state") not in ("done", "failed"):
            seen.append(int(bar.evaluate("e => e.value")))
            page.wait_for_timeout(200)
            assert len(seen) * 200 < DONE_WITHIN_MS, "the worker did not finish the import"
        playwright_sync.expect(page.locator("#import-state")).to_have_text("done")
        assert int(bar.evaluate("e => e.value")) == 100
        assert seen == sorted(seen)
        report = page.locator("#import-report")
        playwright_sync.expect(report).to_contain_text(f"{ROWS} rows read, {ROWS} candles stored")
        playwright_sync.expect(report).to_contain_text("no gaps in the file")
        playwright_sync.expect(page.locator("#import-error")).to_be_hidden()

        upload(page, site, bad)
        playwright_sync.expect(page.locator("#import-state")).to_have_text(
            "failed", timeout=DONE_WITHIN_MS
        )
        playwright_sync.expect(page.locator("#import-error")).to_have_text(
            "row 3, field 'high': not a number: 'x'"
        )
        violations = page.evaluate("window.__cspViolations")
        browser.close()

    assert errors == [] and violations == []
    assert Candle.objects.filter(network="paper", market_id=0).count() == ROWS
