"""Dashboard push latency: BotEvent written in Django -> rendered in a real browser. Prints figures.

    python bench/push_latency.py [--events 200] [--burst 100]

The site runs as in production: daphne in a child process, the Redis channel layer, headless
Chromium (Debian's package, driven by Playwright) on the bot page. This process plays the runner:
it writes a BotEvent and calls `bots.dashboard.broadcast.bot_event` (the push goes out on commit),
and the
page reports when it has rendered the event (its `lw:message` DOM event, fired after the update).
Both clocks are this machine's wall clock.

- sequential: one event at a time, the next once the previous one is on the page;
- burst: `--burst` events written back to back, each timed from its own write.

A temporary SQLite database and a Redis of the run's own (BENCH_REDIS_URL or an embedded one)
are used; nothing else is touched.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.simkit import start_bench_redis  # noqa: E402

USERNAME = "bench"
PASSWORD = "bench-password-not-secret-1"
SEEN_TIMEOUT_MS = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--burst", type=int, default=100)
    args = parser.parse_args()

    redis_url, embedded = start_bench_redis()
    db_path = Path(tempfile.mkdtemp(prefix="lighterweb-bench-")) / "db.sqlite3"
    os.environ.update({"DATABASE_URL": f"sqlite:///{db_path}", "REDIS_URL": redis_url})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lighterweb.settings")
    try:
        run(args.events, args.burst, redis_url, db_path)
    finally:
        if embedded is not None:
            embedded.stop()


def run(events: int, burst: int, redis_url: str, db_path: Path) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    from tests.browser import live_stack

    call_command("migrate", verbosity=0)
    bot_id = _setup_rows()
    env = live_stack.stack_env(f"sqlite:///{db_path}", redis_url)
    port = live_stack.free_port()
    log = live_stack.ARTIFACTS / "bench" / "push_latency-daphne.log"
    writer = ThreadPoolExecutor(max_workers=1)  # ORM off the Playwright thread (it runs a loop)
    with live_stack.daphne(env, port, log), _browser() as page:
        _open_bot_page(page, f"http://127.0.0.1:{port}", bot_id)
        sequential = []
        for i in range(events):
            sent_ms = writer.submit(_write_event, bot_id, f"seq-{i}").result()
            page.wait_for_function(f"window.__seen['seq-{i}']", timeout=SEEN_TIMEOUT_MS)
            sequential.append(page.evaluate(f"window.__seen['seq-{i}']") - sent_ms)
        started = time.perf_counter()
        sent = writer.submit(_write_burst, bot_id, burst).result()
        write_ms = (time.perf_counter() - started) * 1000
        page.wait_for_function(f"window.__seen['burst-{burst - 1}']", timeout=SEEN_TIMEOUT_MS)
        seen = page.evaluate("window.__seen")
        bursty = [seen[name] - sent_ms for name, sent_ms in sent.items()]
    writer.shutdown()
    _report(f"sequential ({events} events)", sequential)
    _report(f"burst ({burst} events back to back)", bursty)
    print(f"burst: writing and pushing took {write_ms / burst:.2f} ms per event in this process")


def _setup_rows() -> int:
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from bots.models import ExchangeAccount, GridBot, Market
    from lighterweb.roles import VIEWER

    user = get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    # Staff alone sees nothing: the dashboard needs a role (the migrations create the groups).
    user.groups.add(Group.objects.get(name=VIEWER))
    account = ExchangeAccount.objects.create(name="bench", network="paper")
    market = Market.objects.create(
        network="paper",
        market_id=0,
        symbol="ETH",
        size_decimals=4,
        price_decimals=2,
        min_base_amount=Decimal("0.005"),
        min_quote_amount=Decimal("10"),
        last_price=Decimal("3000"),
    )
    bot = GridBot.objects.create(
        name="bench",
        account=account,
        market=market,
        step=Decimal("5"),
        size=Decimal("0.01"),
        max_position_notional=Decimal("1000"),
    )
    return int(bot.pk)


def _write_event(bot_id: int, message: str) -> float:
    from bots.dashboard import broadcast
    from bots.models import BotEvent, GridBot

    bot = GridBot.objects.get(pk=bot_id)
    sent_ms = time.time() * 1000
    event = BotEvent.objects.create(
        bot=bot, account_id=bot.account_id, kind="bench", message=message
    )
    broadcast.bot_event(event)
    return sent_ms


def _write_burst(bot_id: int, count: int) -> dict[str, float]:
    return {f"burst-{i}": _write_event(bot_id, f"burst-{i}") for i in range(count)}


class _browser:
    """Headless Debian chromium through Playwright; yields a page."""

    def __enter__(self) -> Any:
        from playwright.sync_api import sync_playwright

        from tests.browser import live_stack

        self._playwright = sync_playwright().start()
        self._chromium = self._playwright.chromium.launch(
            executable_path=live_stack.CHROMIUM, args=live_stack.CHROMIUM_ARGS
        )
        # The bench's own probes (wait_for_function) evaluate strings, which the pages' CSP
        # refuses; the measured page and its pushes are the same either way.
        return self._chromium.new_context(bypass_csp=True).new_page()

    def __exit__(self, *exc: object) -> None:
        self._chromium.close()
        self._playwright.stop()


def _open_bot_page(page: Any, site: str, bot_id: int) -> None:
    page.goto(f"{site}/admin/login/?next=/dashboard/bots/{bot_id}/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_function("document.getElementById('lw-conn').textContent === 'live'")
    page.evaluate(
        """() => { window.__seen = {};
        document.addEventListener("lw:message", (e) => {
          if (e.detail.kind === "event") window.__seen[e.detail.data.message] = e.detail.renderedAt;
        }); }"""
    )


def _report(title: str, latencies_ms: list[float]) -> None:
    ordered = sorted(latencies_ms)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"{title}: event -> browser p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {ordered[-1]:.1f} ms")


if __name__ == "__main__":
    main()
