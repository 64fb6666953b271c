"""End to end in headless Chromium: log in, start a paper grid from its page, watch it live.

The whole site runs as it does in production, each part a real process: daphne (pages and
websockets) and a Celery worker on the `bots` queue (the grid runner), both subprocesses on the
test database and the test Redis; the simulator is the exchange, in this process on a free port.
The page is never reloaded: orders, the fill and the cancels all arrive over the websocket.
Screenshots and the subprocess logs are saved under test-artifacts/.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from bots import figures, services
from bots.engine.runner import BUDGET_WAIT_MESSAGE
from bots.models import Fill, GridBot, HedgeBot, Market, Order
from lighterweb.redis_server import free_port
from tests.bots.hedge_support import hedge_bot, price_through
from tests.bots.runner_support import GRID_SHAPES, account_on, sim_open_orders
from tests.browser import live_stack
from tests.lighterweb.factories import make_bot, role_group

live_stack.require_browser()

import playwright.sync_api as playwright_sync  # noqa: E402

T = TypeVar("T")

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

USERNAME = "operator"
PASSWORD = "browser-test-password-1"
LEVELS = 3
ETH_MARKET_ID = 0
STEP_MS = 30_000  # generous bound for the runner to place or cancel a whole grid
FILL_TO_PAGE_LIMIT_MS = 1000
LOGS = live_stack.ARTIFACTS / "browser"  # the issue: a fill updates the page within a second


@pytest.fixture
def stack_env(redis_url: str, settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = redis_url
    return live_stack.stack_env(live_stack.database_url(connection.settings_dict), redis_url)


@dataclass
class Site:
    url: str
    port: int
    web: subprocess.Popen[bytes]


@pytest.fixture
def site(stack_env: dict[str, str], simulator) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    port = free_port()
    with (
        live_stack.daphne(stack_env, port, LOGS / "daphne.log") as web,
        live_stack.bots_worker(stack_env, LOGS / "worker.log"),
    ):
        yield Site(f"http://127.0.0.1:{port}", port, web)


@pytest.fixture
def eth_bot(simulator, funded_account) -> GridBot:  # type: ignore[no-untyped-def]
    operator = get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    operator.groups.add(role_group("operator"))
    account = account_on(simulator, funded_account)
    shape = GRID_SHAPES["ETH"]
    return make_bot(
        account,
        Market.objects.get(network=account.network, symbol="ETH"),
        step=shape["step"],
        size=shape["size"],
        levels_per_side=LEVELS,
        max_open_orders=2 * LEVELS,
        max_position_notional=shape["cap"],
    )


@pytest.fixture
def page(site: Site) -> Iterator[object]:
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=live_stack.CHROMIUM, args=live_stack.CHROMIUM_ARGS
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1500})
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())  # the controls' confirmations
        yield page
        browser.close()


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    LOGS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(LOGS / f"{name}.png"), full_page=True)


def _log_in(page, site: Site, next_path: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{site.url}/admin/login/?next={next_path}")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    playwright_sync.expect(page).to_have_url(f"{site.url}{next_path}")


def _db(read: Callable[[], T]) -> T:
    """Run an ORM read off this thread: Playwright's sync API keeps an event loop running here,
    and Django refuses synchronous queries beside a running loop."""

    def run() -> T:
        try:
            return read()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=60)


def _top_buy_price(bot: GridBot) -> Decimal:
    """The highest resting buy, once the venue has confirmed all the grid's buys: the page lists
    `pending` orders too, so its row count can be reached before the confirmations land."""
    deadline = time.monotonic() + STEP_MS / 1000
    while True:
        live = Order.objects.filter(bot=bot, side="buy", status="open")
        prices = list(live.values_list("price", flat=True))
        if len(prices) >= LEVELS or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(prices) == LEVELS, f"open buys {prices} (expected {LEVELS})"
    return max(prices)


def _first_fill(bot: GridBot) -> Fill | None:
    return Fill.objects.filter(bot=bot).order_by("created_at").first()


def test_operator_starts_a_grid_sees_orders_and_a_fill_live_then_emergency_stops_it(
    eth_bot, site, page, simulator, funded_account
):
    expect = playwright_sync.expect
    _log_in(page, site, f"/dashboard/bots/{eth_bot.pk}/")
    expect(page.locator("#lw-conn")).to_have_text("live")
    page.evaluate("window.__sameDocument = true")

    page.click("#action-start")

    expect(page.locator("#orders tr.lw-order")).to_have_count(2 * LEVELS, timeout=STEP_MS)
    expect(page.locator("#bot-status")).to_have_text("running", timeout=STEP_MS)
    expect(page.locator("#ladder .lw-state-resting")).to_have_count(2 * LEVELS)
    _shot(page, "1-grid-running")

    page.evaluate(
        """() => { window.__fillSeenAt = null;
        document.addEventListener("lw:message", (e) => {
          if (e.detail.kind === "fill" && window.__fillSeenAt === null)
            window.__fillSeenAt = e.detail.renderedAt;
        }); }"""
    )
    through = _db(lambda: _top_buy_price(eth_bot)) - GRID_SHAPES["ETH"]["step"] / 2
    simulator.sim("POST", "/sim/price", {"market_id": ETH_MARKET_ID, "price": str(through)})
    simulator.advance(1000)

    expect(page.locator("#fills tr.lw-fill").first).to_be_visible(timeout=STEP_MS)
    fill = _db(lambda: _first_fill(eth_bot))
    assert fill is not None
    seen_at_ms = page.evaluate("window.__fillSeenAt")
    fill_to_page_ms = seen_at_ms - fill.created_at.timestamp() * 1000
    assert fill_to_page_ms <= FILL_TO_PAGE_LIMIT_MS, (
        f"fill reached the page in {fill_to_page_ms} ms"
    )
    print(f"fill -> page: {fill_to_page_ms:.0f} ms")
    expect(page.locator("#fills tr.lw-fill").first).to_contain_text(str(fill.trade_id))
    # The figures recomputed after the fill follow it: the position and the moved centre.
    expect(page.locator('#pnl [data-pnl="position_base"]')).to_have_text(
        _db(lambda: figures.size(fill.size_base, fill.market, unit=True))
    )
    expect(page.locator('#ladder tr[data-level="-1"]')).to_contain_text("centre")
    _shot(page, "2-after-fill")

    # A stop-loss set while it runs (the API's save) shows on the page as it is saved, and
    # its runner says it applies it.
    expect(page.locator("#bot-exits")).to_have_text("none")
    _db(
        lambda: services.bot_update(
            GridBot.objects.get(pk=eth_bot.pk), actor="test", stop_loss_price=Decimal("2500")
        )
    )
    expect(page.locator("#bot-exits")).to_have_text("stop-loss 2500.00 USDC (position kept)")
    expect(page.locator("#events")).to_contain_text("stop loss price none → 2500", timeout=STEP_MS)

    page.click("#action-emergency-stop")

    expect(page.locator("#orders tr.lw-order")).to_have_count(0, timeout=STEP_MS)
    expect(page.locator("#bot-status")).to_have_text("stopped", timeout=STEP_MS)
    expect(page.locator("#bot-desired")).to_have_text("stopped")
    assert sim_open_orders(simulator, funded_account.index, ETH_MARKET_ID) == []
    assert page.evaluate("window.__sameDocument") is True  # never reloaded
    _shot(page, "3-after-emergency-stop")


def test_overview_lists_the_bot_says_when_disconnected_and_reconnects_by_itself(
    eth_bot, site, page, stack_env
):
    expect = playwright_sync.expect
    _log_in(page, site, "/dashboard/")
    expect(page.locator("#lw-conn")).to_have_text("live")
    expect(page.locator(f'#bots tr[data-bot-id="{eth_bot.pk}"]')).to_contain_text("ETH")
    expect(page.locator("#accounts tr")).to_have_count(1)
    # Balances and positions are the account's last read: the row says when (none yet here).
    expect(page.locator("#accounts tr")).to_contain_text("not read yet")
    _shot(page, "overview")

    site.web.terminate()
    site.web.wait(timeout=live_stack.STOP_TIMEOUT_S)

    expect(page.locator("#lw-conn")).to_contain_text("disconnected")
    _shot(page, "overview-disconnected")
    with live_stack.daphne(stack_env, site.port, LOGS / "daphne-restarted.log"):
        expect(page.locator("#lw-conn")).to_have_text("live", timeout=STEP_MS)
        expect(page.locator(f'#bots tr[data-bot-id="{eth_bot.pk}"]')).to_contain_text("ETH")


def test_overview_says_why_a_bot_is_starting_and_keeps_its_states_whole_at_1280_px(
    eth_bot, site, page
):
    # A trader's report: three grids showed "starting" for a minute with nothing saying why,
    # and "running" broke into "runnin / g" in the Desired column at 1280 px.
    _db(
        lambda: GridBot.objects.filter(pk=eth_bot.pk).update(
            desired_state="running", status="starting", status_message=BUDGET_WAIT_MESSAGE
        )
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    _log_in(page, site, "/dashboard/")
    row = page.locator(f'#bots tr[data-bot-id="{eth_bot.pk}"]')
    playwright_sync.expect(row).to_contain_text("waiting for the account's request budget")
    _shot(page, "overview-starting-1280")
    desired = row.locator("td").nth(3)
    playwright_sync.expect(desired).to_have_text("running")
    # One line box: a word broken over two lines has two client rectangles.
    lines = desired.locator("span").evaluate("span => span.getClientRects().length")
    assert lines == 1


def test_the_hedge_page_shows_each_legs_own_position_live_as_the_bot_hedges(site, page, simulator):
    """Before: the hedge page was rendered once, said "connecting…" for ever and showed only
    the accounts' last checks. Now it is live, with the bot's own position on each leg."""
    expect = playwright_sync.expect

    def made() -> int:
        operator = get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
        operator.groups.add(role_group("operator"))
        maker = account_on(simulator, maker_sim)
        taker = account_on(simulator, taker_sim)
        # Holds its hedged pair for ten minutes: the page is read while both legs are open.
        return hedge_bot(maker, taker, running=False, hold_min_ms=600_000).pk

    maker_sim, taker_sim = simulator.create_account(), simulator.create_account()
    bot_id = _db(made)
    _log_in(page, site, f"/dashboard/hedge/{bot_id}/")
    expect(page.locator("#lw-conn")).to_have_text("live")
    expect(page.locator("#leg-0-own")).to_have_text("0.0000 ETH")
    page.evaluate("window.__sameDocument = true")

    page.click("#action-start")

    expect(page.locator("#bot-status")).to_have_text("running", timeout=STEP_MS)
    deadline = time.monotonic() + STEP_MS / 1000
    while len(sim_open_orders(simulator, maker_sim.index, ETH_MARKET_ID)) != 1:
        assert time.monotonic() < deadline, "A's opening order never rested"
        time.sleep(0.1)
    price_through(simulator, maker_sim.index)

    expect(page.locator("#leg-0-own")).to_have_text("0.0100 ETH", timeout=STEP_MS)
    expect(page.locator("#leg-1-own")).to_have_text("-0.0100 ETH", timeout=STEP_MS)
    expect(page.locator("#hedge-own-net")).to_have_text("0.0000 ETH")
    # The runner read both accounts' positions when it started: they are not "never" checked.
    expect(page.locator("#leg-0-checked")).not_to_have_text("never")
    expect(page.locator("#leg-1-checked")).not_to_have_text("never")
    expect(page.locator("#hedge-events-body")).to_contain_text("hedge", timeout=STEP_MS)
    # A stop-loss saved while the pair runs shows at once (its runner applies it too).
    expect(page.locator("#hedge-stop-loss")).to_have_text("none")
    _db(
        lambda: services.hedge_bot_update(
            HedgeBot.objects.get(pk=bot_id), actor="op", stop_loss_quote=Decimal("50")
        )
    )
    expect(page.locator("#hedge-stop-loss")).to_have_text(
        "a loss of 50 USDC on the pair (then both legs closed)", timeout=STEP_MS
    )
    expect(page.locator("#hedge-events-body")).to_contain_text("now applied", timeout=STEP_MS)
    _shot(page, "hedge-live")

    page.click("#action-emergency-stop")

    expect(page.locator("#bot-status")).to_have_text("stopped", timeout=STEP_MS)
    expect(page.locator("#bot-desired")).to_have_text("stopped")
    assert page.evaluate("window.__sameDocument") is True  # never reloaded


def test_the_overviews_hedge_rows_follow_a_start_and_an_emergency_stop_live(site, page, simulator):
    """The overview's hedge bots were rendered once: after "Emergency stop all" (or a
    cancel-all, which stops them) a stopped hedge bot still read "running running" until the
    page was reloaded."""
    expect = playwright_sync.expect

    def made() -> int:
        operator = get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
        operator.groups.add(role_group("operator"))
        maker, taker = account_on(simulator, maker_sim), account_on(simulator, taker_sim)
        return hedge_bot(maker, taker, running=False, hold_min_ms=600_000).pk

    maker_sim, taker_sim = simulator.create_account(), simulator.create_account()
    bot_id = _db(made)
    _log_in(page, site, "/dashboard/")
    expect(page.locator("#lw-conn")).to_have_text("live")
    row = page.locator(f"#hedge-row-{bot_id}")
    expect(row.locator(".hedge-desired")).to_have_text("stopped")
    page.evaluate("window.__sameDocument = true")

    _db(lambda: services.bot_start(HedgeBot.objects.get(pk=bot_id), actor="op"))
    expect(row.locator(".hedge-desired")).to_have_text("running", timeout=STEP_MS)
    expect(row.locator(".hedge-status")).to_have_text("running", timeout=STEP_MS)
    expect(row.locator(".hedge-core-state")).to_have_text("opening", timeout=STEP_MS)

    page.click("#lw-emergency-stop-all")

    expect(row.locator(".hedge-status")).to_have_text("stopped", timeout=STEP_MS)
    expect(row.locator(".hedge-desired")).to_have_text("stopped")
    assert page.evaluate("window.__sameDocument") is True  # never reloaded
