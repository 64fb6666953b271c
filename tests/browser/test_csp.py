"""The Content-Security-Policy holds on every kind of page: the admin (list, form, login), the
dashboard (with its websocket and chart) and the API docs (Swagger UI from our own static
files). A real Chromium reports every violation; none may occur, and no page asks another host
for anything."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from lighterweb.redis_server import free_port
from tests.browser import live_stack
from tests.lighterweb.factories import make_account, make_bot, make_market

live_stack.require_browser()

import playwright.sync_api as playwright_sync  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

USERNAME = "csp-admin"
PASSWORD = "csp-test-password-1"
LOGS = live_stack.ARTIFACTS / "browser-csp"
# Collects what the browser blocks, from the first script on, on every page.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture
def site(redis_url: str, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = redis_url
    env = live_stack.stack_env(live_stack.database_url(connection.settings_dict), redis_url)
    port = free_port()
    with live_stack.daphne(env, port, LOGS / "daphne.log"):
        yield f"http://127.0.0.1:{port}"


def test_no_page_violates_the_content_security_policy(site: str) -> None:
    get_user_model().objects.create_superuser(USERNAME, password=PASSWORD)
    bot = make_bot(make_account(), make_market())
    connection.close()  # the browser's server reads the rows from its own connection
    pages = [
        "/admin/",
        "/admin/bots/gridbot/",
        f"/admin/bots/gridbot/{bot.pk}/change/",
        "/admin/bots/exchangeaccount/add/",
        "/dashboard/",
        f"/dashboard/bots/{bot.pk}/",
        "/api/docs",
    ]
    violations: list[str] = []
    foreign: list[str] = []

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=live_stack.CHROMIUM, args=live_stack.CHROMIUM_ARGS
        )
        page = browser.new_context().new_page()
        page.add_init_script(RECORD_VIOLATIONS)
        page.on(
            "console",
            lambda message: (
                violations.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )
        page.on(
            "request",
            lambda request: (
                None
                if request.url.startswith((site, site.replace("http", "ws", 1), "data:"))
                else foreign.append(request.url)
            ),
        )
        page.goto(f"{site}/admin/login/?next=/admin/")
        page.fill("#id_username", USERNAME)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        playwright_sync.expect(page).to_have_url(f"{site}/admin/")
        for path in pages:
            page.goto(f"{site}{path}")
            page.wait_for_load_state("networkidle")
            if path.startswith("/dashboard/"):
                playwright_sync.expect(page.locator("#lw-conn")).to_have_text("live")
            if path == "/api/docs":
                playwright_sync.expect(page.locator(".swagger-ui .info .title")).to_contain_text(
                    "LighterWeb API"
                )
            violations.extend(f"{path}: {v}" for v in page.evaluate("window.__cspViolations"))
        browser.close()

    assert violations == [], "\n".join(violations)
    assert foreign == []
