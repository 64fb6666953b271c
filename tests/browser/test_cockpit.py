"""The trader's cockpit in headless Chromium (issue 15): the grid preview in the admin form.

Only the web process runs (daphne on the test database and Redis): these pages need no
exchange. Screenshots go to test-artifacts/browser-cockpit/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
import redis
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from bots.history import candles
from bots.models import BotEvent, Fill, GridBot, Order, PnlSnapshot
from lighterweb.redis_server import free_port
from tests.browser import live_stack
from tests.lighterweb.factories import make_account, make_bot, make_market

live_stack.require_browser()

import playwright.sync_api as playwright_sync  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

USERNAME = "cockpit-admin"
PASSWORD = "cockpit-test-password-1"
LOGS = live_stack.ARTIFACTS / "browser-cockpit"
expect = playwright_sync.expect


@pytest.fixture
def site(redis_url: str, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = redis_url
    env = live_stack.stack_env(live_stack.database_url(connection.settings_dict), redis_url)
    port = free_port()
    with live_stack.daphne(env, port, LOGS / "daphne.log"):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def admin() -> None:
    get_user_model().objects.create_superuser(USERNAME, password=PASSWORD)


@pytest.fixture
def browser(admin: None) -> Iterator[object]:
    """Chromium; the test's rows must exist before it starts (Playwright's sync API runs an event
    loop on this thread, where Django refuses ORM calls)."""
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=live_stack.CHROMIUM, args=live_stack.CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def _page(browser, site: str, width: int = 1400):  # type: ignore[no-untyped-def]
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    page.on("dialog", lambda dialog: dialog.dismiss())
    page.goto(f"{site}/admin/login/?next=/admin/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page).to_have_url(f"{site}/admin/")
    return page


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    LOGS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(LOGS / f"{name}.png"), full_page=True)


@pytest.fixture
def bot():  # type: ignore[no-untyped-def]
    bot = make_bot(make_account(), make_market(), step="10", levels_per_side=3, max_open_orders=6)
    connection.close()  # the browser's server reads the rows from its own connection
    return bot


def test_preview_shows_level_prices_and_refuses_a_level_at_or_below_zero(
    site: str, bot, browser
) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser, site)

    page.goto(f"{site}/admin/bots/gridbot/{bot.pk}/change/")

    levels = page.locator("#lw-grid-preview .lw-preview-levels")
    expect(levels).to_contain_text("4030.00")
    expect(levels).to_contain_text("3970.00")
    expect(page.locator("#lw-grid-preview")).to_contain_text("USDC")
    _shot(page, "preview")
    page.locator("#lw-grid-preview").screenshot(path=str(LOGS / "preview-panel.png"))

    page.fill("#id_step", "1500")  # 4000 - 3 x 1500 < 0
    page.locator("#id_step").dispatch_event("change")

    step_error = page.locator(".field-step .lw-preview-error")
    expect(step_error).to_contain_text("<= 0")
    expect(page.locator("#lw-grid-preview .lw-preview-refused")).to_be_visible()
    _shot(page, "preview-refused")


@pytest.fixture
def traded_bot():  # type: ignore[no-untyped-def]
    """A bot whose runner anchored it at 4000 with the centre one level down, and one fill."""
    bot = make_bot(make_account(), make_market(), step="10", levels_per_side=3, max_open_orders=6)
    GridBot.objects.filter(pk=bot.pk).update(
        anchor_price=Decimal("4000"), centre_index=-1, last_price=Decimal("3991.5")
    )
    Fill.objects.create(
        account=bot.account,
        market=bot.market,
        bot=bot,
        trade_id=4242,
        side="buy",
        price=Decimal("3990"),
        size_base=Decimal("0.01"),
        fee=Decimal("0.0000997751"),
        is_maker=True,
        executed_at=timezone.now(),
    )
    connection.close()
    return bot


def test_dashboard_figures_have_market_decimals_units_and_the_centre_as_a_price(
    site: str, traded_bot, browser
) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser, site)

    page.goto(f"{site}/dashboard/bots/{traded_bot.pk}/")

    expect(page.locator("#lw-conn")).to_have_text("live")
    expect(page.locator("#bot-centre")).to_have_text("3990.00 USDC")
    expect(page.locator("#bot-last-price")).to_have_text("3991.50 USDC")
    fill = page.locator("#fills tr.lw-fill").first
    expect(fill).to_contain_text("3990.00 USDC")
    expect(fill).to_contain_text("0.0100 ETH")
    expect(fill).to_contain_text("0.000100 USDC")
    expect(page.locator('#pnl [data-pnl="position_base"]')).to_have_text("0.0100 ETH")
    expect(page.locator('#pnl [data-pnl="total"]')).to_contain_text(" USDC")
    assert "round trip" in (
        page.locator("#pnl dt", has_text="Other realized").get_attribute("title") or ""
    )
    _shot(page, "bot-figures")

    page.goto(f"{site}/dashboard/")
    row = page.locator(f'#bots tr[data-bot-id="{traded_bot.pk}"]')
    expect(row).to_contain_text("3991.50 USDC")
    expect(row).to_contain_text("3990.00 USDC")


@pytest.fixture
def returns_bot(traded_bot):  # type: ignore[no-untyped-def]
    """The traded bot at leverage 5 (20 % initial margin) with a sell 0.01 at 4010 resting and
    two PnL snapshots (0.05 then 0.01 USDC)."""
    GridBot.objects.filter(pk=traded_bot.pk).update(leverage=Decimal("5"))
    Order.objects.create(
        bot=traded_bot,
        account=traded_bot.account,
        market=traded_bot.market,
        client_order_index=1,
        side="sell",
        price=Decimal("4010"),
        size_base=Decimal("0.01"),
        status="open",
    )
    now = timezone.now().replace(second=0, microsecond=0)
    for minutes, total in ((2, "0.05"), (1, "0.01")):
        PnlSnapshot.objects.create(
            bot=traded_bot,
            time=now - timedelta(minutes=minutes),
            total=Decimal(total),
            realized=0,
            inventory=0,
            fees=0,
            funding=0,
            position=0,
        )
    connection.close()
    return traded_bot


def test_returns_show_capital_roi_and_drawdown_with_units(site: str, returns_bot, browser) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser, site)

    page.goto(f"{site}/dashboard/bots/{returns_bot.pk}/")

    returns = page.locator("#returns")
    # (4010 x 0.01 resting + 3991.5 x 0.01 held) x 20 % = 8.02 + 7.983.
    expect(returns.locator('[data-returns="capital"]')).to_have_text("16.00 USDC")
    expect(returns.locator('[data-returns="capital_orders"]')).to_have_text("8.02 USDC")
    # Total 0.015 inventory - 0.0000998 fees over 16.003 USDC.
    expect(returns.locator('[data-returns="roi_percent"]')).to_have_text("0.09 %")
    # A few minutes old: no APR extrapolated yet.
    expect(returns.locator('[data-returns="apr_percent"]')).to_have_text("\u2013")
    expect(returns.locator('[data-returns="round_trips"]')).to_have_text("0")
    expect(returns.locator('[data-returns="round_trip_avg_profit"]')).to_have_text(
        "\u2013"
    )  # none yet
    expect(returns.locator('[data-returns="max_drawdown"]')).to_have_text("0.04 USDC")
    assert "leverage" in (
        returns.locator("dt", has_text="Capital in use").get_attribute("title") or ""
    )
    _shot(page, "bot-returns")

    page.goto(f"{site}/dashboard/")
    account = page.locator(f'#accounts tr[data-account-id="{returns_bot.account_id}"]')
    expect(account).to_contain_text("16.00 USDC")
    expect(account).to_contain_text("0.04 USDC")
    expect(page.locator(f'#bots tr[data-bot-id="{returns_bot.pk}"]')).to_contain_text("0.09 %")


@pytest.fixture
def running_bot():  # type: ignore[no-untyped-def]
    """A bot the engine reports running, with three resting orders (no worker needed: the
    pages read the state from the database)."""
    bot = make_bot(make_account(name="main"), make_market(), step="10", levels_per_side=3)
    GridBot.objects.filter(pk=bot.pk).update(desired_state="running", status="running")
    for index, price in enumerate(("3990", "3980", "4010"), start=1):
        Order.objects.create(
            bot=bot,
            account=bot.account,
            market=bot.market,
            client_order_index=index,
            side="buy" if price < "4000" else "sell",
            price=Decimal(price),
            size_base=Decimal("0.01"),
            status="open",
        )
    connection.close()
    return bot


def test_controls_are_enabled_only_where_they_apply_and_confirm_what_they_cancel(
    site: str, running_bot, browser
) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser, site)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))

    page.goto(f"{site}/dashboard/bots/{running_bot.pk}/")

    expect(page.locator("#lw-conn")).to_have_text("live")
    expect(page.locator("#action-start")).to_be_disabled()
    for enabled in ("pause", "stop", "emergency-stop", "cancel-all"):
        expect(page.locator(f"#action-{enabled}")).to_be_enabled()
    page.click("#action-stop")  # dismissed: nothing is sent
    page.click("#action-emergency-stop")
    page.click("#action-cancel-all")
    assert "cancels its 3 open orders" in dialogs[0]
    assert "EVERY order of account main on ETH" in dialogs[1]
    assert "left paused" in dialogs[2]
    expect(page.locator("#lw-flash")).to_be_hidden()
    _shot(page, "controls-running")

    page.goto(f"{site}/admin/bots/gridbot/{running_bot.pk}/change/")

    expect(page.locator("#lw-dashboard-page")).to_have_attribute(
        "href", f"/dashboard/bots/{running_bot.pk}/"
    )
    expect(page.locator("#action-start")).to_be_disabled()
    expect(page.locator("#action-pause")).to_be_enabled()
    page.click("#action-stop")
    assert "cancels its 3 open orders" in dialogs[3]
    _shot(page, "admin-controls")


@pytest.fixture
def busy_bot(running_bot):  # type: ignore[no-untyped-def]
    """The running bot with 40 events in its log."""
    for n in range(40):
        BotEvent.objects.create(
            bot=running_bot, account=running_bot.account, kind="note", message=f"event {n}"
        )
    connection.close()
    return running_bot


def _no_horizontal_scroll(page) -> None:  # type: ignore[no-untyped-def]
    wide = page.evaluate(
        """Array.from(document.querySelectorAll('body *'))
          .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
          .slice(0, 8)
          .map(e => `${e.tagName}#${e.id}.${e.className} ${e.getBoundingClientRect().right}`)"""
    )
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"page is {widths[0]} px wide in a {widths[1]} px window: {wide}"


@pytest.mark.parametrize("width", [1400, 390])
def test_pages_fit_the_width_and_the_event_log_is_paginated(
    site: str, busy_bot, browser, width: int
) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser, site, width=width)

    page.goto(f"{site}/dashboard/")
    expect(page.locator("#lw-conn")).to_have_text("live")
    expect(page.locator(f'#bots tr[data-bot-id="{busy_bot.pk}"]')).to_contain_text("ETH")
    _no_horizontal_scroll(page)
    if width < 700:
        # Cards: each cell names its column.
        cell = page.locator(f'#bots tr[data-bot-id="{busy_bot.pk}"] td').nth(1)
        expect(cell).to_have_attribute("data-label", "Symbol")
    _shot(page, f"overview-{width}")

    page.goto(f"{site}/dashboard/bots/{busy_bot.pk}/")
    expect(page.locator("#lw-conn")).to_have_text("live")
    expect(page.locator("#events tr")).to_have_count(25)
    expect(page.locator("#events-page")).to_have_text("1-25 of 40")
    _no_horizontal_scroll(page)
    _shot(page, f"bot-{width}")
    page.click("#events-older")
    expect(page.locator("#events tr")).to_have_count(15)
    expect(page.locator("#events-older")).to_be_disabled()

    page.goto(f"{site}/admin/bots/gridbot/{busy_bot.pk}/change/")
    expect(page.locator("#lw-grid-preview .lw-preview-levels")).to_be_visible()
    _shot(page, f"admin-bot-{width}")
    _no_horizontal_scroll(page)


@pytest.fixture
def unindexed_account(simulator, funded_account):  # type: ignore[no-untyped-def]
    """A paper account on the simulator whose account index is still to be looked up."""
    account = make_account(
        base_url_override=simulator.base_url,
        account_index=None,
        l1_address=funded_account.l1_address,
    )
    connection.close()
    return account


def test_look_up_runs_on_a_worker_and_the_page_follows_it(
    site: str, redis_url: str, unindexed_account, funded_account, browser
) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser, site)
    page.goto(f"{site}/admin/bots/exchangeaccount/")
    page.check(f'input[name="_selected_action"][value="{unindexed_account.pk}"]')
    page.select_option('select[name="action"]', "look_up_account_index")
    page.click('button[name="index"]')

    # No default worker yet: the page came back at once and lists the job, waiting.
    job = page.locator("#lw-admin-jobs li")
    expect(job).to_have_attribute("data-state", "queued")
    expect(job).to_contain_text("waiting for a worker")
    _shot(page, "admin-job-queued")
    env = live_stack.stack_env(live_stack.database_url(connection.settings_dict), redis_url)
    command = [
        live_stack._bin("celery"), "-A", "lighterweb", "worker", "-Q", "celery", "-P", "solo",
        "-n", f"cockpit-default-{free_port()}@%h", "--without-heartbeat", "--without-gossip",
        "--without-mingle",
    ]  # fmt: skip
    with live_stack.running(command, env, LOGS / "worker.log"):
        # The page polls, and reloads by itself once the job is done: its result is a message.
        expect(page.locator(".messagelist")).to_contain_text(
            f"account index {funded_account.index} found", timeout=60_000
        )
    expect(page.locator("#lw-admin-jobs")).to_have_count(0)
    _shot(page, "admin-job-done")


@pytest.fixture
def round_trip_bot(redis_url: str):  # type: ignore[no-untyped-def]
    """A buy at 3990 (level -1) five minutes ago and the sell at 4000 (level 0) that closed its
    round trip two minutes ago, as the runner books them (`round_trip_id` from the ledger); the
    market's 1m candles of the last ten minutes in the candle cache, as a venue read leaves
    them."""
    bot = make_bot(make_account(), make_market(), step="10", levels_per_side=3, max_open_orders=6)
    now = timezone.now().replace(second=0, microsecond=0)
    for trade_id, side, price, level, minutes in (
        (1, "buy", "3990", -1, 5),
        (2, "sell", "4000", 0, 2),
    ):
        Fill.objects.create(
            account=bot.account,
            market=bot.market,
            bot=bot,
            trade_id=trade_id,
            side=side,
            price=Decimal(price),
            size_base=Decimal("0.01"),
            fee=Decimal(0),
            is_maker=True,
            level_index=level,
            round_trip_id=1,
            executed_at=now - timedelta(minutes=minutes, seconds=-10),
        )
    start = int(now.timestamp()) - 600
    rows = [
        {"time": start + 60 * i, "open": "3995", "high": "4001", "low": "3989", "close": "3995",
         "volume": "1"}
        for i in range(11)
    ]  # fmt: skip
    key = candles.CACHE_KEY.format(
        network=bot.market.network, market_id=bot.market.market_id, resolution="1m"
    )
    redis.Redis.from_url(redis_url).set(key, json.dumps(rows), ex=600)
    connection.close()
    return bot


def test_price_chart_links_each_round_trip_from_its_opening_fill_to_its_close(
    site: str, round_trip_bot, browser
) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser, site)

    page.goto(f"{site}/dashboard/bots/{round_trip_bot.pk}/")

    expect(page.locator("#fills tr.lw-fill")).to_have_count(2)
    # One link: from trade 1 (the buy that opened it) to trade 2 (the sell that closed it).
    expect(page.locator("#lw-page")).to_have_attribute("data-round-trip-links", "1>2")
    _shot(page, "round-trip-link")
