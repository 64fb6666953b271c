"""The positions page in headless Chromium (issue 15): Close on a paper position leaves it flat
(read back from the simulator), a TP/SL is shown, and the page fits a 390 px phone.

daphne runs on the test database and Redis; the simulator runs in-process on its own thread and
the site reaches it over HTTP like a real venue. Screenshots go to test-artifacts/browser-positions/
(`positions-1400.png` is the README's docs/screenshots/positions.png).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from exchange.types import OrderSide
from lighterweb.redis_server import free_port
from tests.bots.test_positions import account_on, eth, open_position, own
from tests.browser import live_stack
from tests.lighterweb.factories import make_bot

live_stack.require_browser()

import playwright.sync_api as playwright_sync  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

USERNAME = "positions-admin"
PASSWORD = "positions-test-password-1"
LOGS = live_stack.ARTIFACTS / "browser-positions"
expect = playwright_sync.expect


@pytest.fixture
def site(redis_url: str, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = redis_url
    env = live_stack.stack_env(live_stack.database_url(connection.settings_dict), redis_url)
    port = free_port()
    with live_stack.daphne(env, port, LOGS / "daphne.log"):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def account(simulator, funded_account, redis_url, settings):  # type: ignore[no-untyped-def]
    """A paper account on the simulator with a long 0.3 ETH, 0.1 of it a stopped bot's."""
    settings.REDIS_URL = redis_url
    get_user_model().objects.create_superuser(USERNAME, password=PASSWORD)
    account = account_on(simulator, funded_account)
    own(make_bot(account, eth(), name="old-grid"), "0.1")
    open_position(account, OrderSide.BUY, "0.3")
    connection.close()  # the browser's server reads the rows from its own connection
    return account


@pytest.fixture
def browser(account) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """Chromium, started after the rows exist (its event loop runs on this thread)."""
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=live_stack.CHROMIUM, args=live_stack.CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def _page(browser, site: str, width: int):  # type: ignore[no-untyped-def]
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{site}/admin/login/?next=/admin/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page).to_have_url(f"{site}/admin/")
    return page


def _venue_size(simulator, account) -> Decimal:  # type: ignore[no-untyped-def]
    """The ETH position as the simulator's REST answers it (no ORM on Playwright's thread)."""
    url = f"{simulator.base_url}/api/v1/account?by=index&value={account.account_index}"
    with urllib.request.urlopen(url, timeout=10) as reply:
        body = json.loads(reply.read())
    for position in body["accounts"][0]["positions"]:
        if position["market_id"] == 0:
            return Decimal(position["position"]) * int(position.get("sign", 1) or 1)
    return Decimal(0)


def _no_horizontal_scroll(page) -> None:  # type: ignore[no-untyped-def]
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"page is {widths[0]} px wide in a {widths[1]} px window"


@pytest.mark.parametrize("width", [1400, 390])
def test_close_on_a_paper_position_leaves_it_flat(
    site: str, simulator, account, browser, width: int
) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser, site, width)
    page.goto(f"{site}/dashboard/")
    page.click(f"#lw-positions-links a[href='/dashboard/accounts/{account.pk}/positions/']")

    row = page.locator("#positions-table tr[data-symbol=ETH]")
    expect(row).to_contain_text("0.3000 ETH")
    expect(row).to_contain_text("old-grid")
    expect(row.locator("td[data-label=Unattributed]")).to_have_text("0.2000 ETH")
    page.fill("form.lw-tpsl input[name=take_profit]", "3300")
    page.click("form.lw-tpsl button")
    expect(row.locator("td[data-label='TP/SL']")).to_contain_text("TP at 3300.00 USDC")
    _no_horizontal_scroll(page)
    LOGS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(LOGS / f"positions-{width}.png"), full_page=True)

    page.click("form.lw-close button.lw-close-button")

    expect(page.locator("#lw-no-positions")).to_be_visible()
    assert _venue_size(simulator, account) == 0
    _no_horizontal_scroll(page)
