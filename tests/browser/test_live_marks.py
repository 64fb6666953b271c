"""In headless Chromium: a running grid's page shows the exchange's mark price and the PnL valued
at it change while the mark moves, with no fill and no reload (daphne and a bots worker as real
processes, the simulator as the exchange; see test_dashboard_live for the stack)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.bots.runner_support import GRID_SHAPES
from tests.browser import test_dashboard_live as live

playwright_sync = live.playwright_sync
# The stack's fixtures, shared with the dashboard's own browser test.
stack_env, site, eth_bot, page = live.stack_env, live.site, live.eth_bot, live.page
__all__ = ["eth_bot", "page", "site", "stack_env"]

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ETH = live.ETH_MARKET_ID


def test_the_bot_page_shows_the_mark_and_pnl_move_without_a_fill(eth_bot, site, page, simulator):
    expect = playwright_sync.expect
    live._log_in(page, site, f"/dashboard/bots/{eth_bot.pk}/")
    expect(page.locator("#lw-conn")).to_have_text("live")
    page.evaluate("window.__sameDocument = true")
    page.click("#action-start")
    expect(page.locator("#orders tr.lw-order")).to_have_count(2 * live.LEVELS, timeout=live.STEP_MS)
    expect(page.locator("#ladder .lw-state-resting")).to_have_count(
        2 * live.LEVELS, timeout=live.STEP_MS
    )
    # A position to value: one buy fills and becomes the centre.
    top_buy = live._db(lambda: live._top_buy_price(eth_bot))
    step = GRID_SHAPES["ETH"]["step"]
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": str(top_buy - step / 2)})
    simulator.advance(1000)
    expect(page.locator("#fills tr.lw-fill")).to_have_count(1, timeout=live.STEP_MS)
    expect(page.locator("#orders tr.lw-order")).to_have_count(2 * live.LEVELS, timeout=live.STEP_MS)
    inventory = page.locator('#pnl [data-pnl="unrealized"]')
    total = page.locator('#pnl [data-pnl="total"]')
    last_price = page.locator("#bot-last-price")
    before = (last_price.inner_text(), inventory.inner_text(), total.inner_text())

    # The mark moves less than half a step: no fill, no grid move, only the valuation.
    mark = top_buy + step * Decimal("0.3")
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": f"{mark:.2f}"})

    expect(last_price).not_to_have_text(before[0], timeout=10_000)
    expect(inventory).not_to_have_text(before[1])
    expect(total).not_to_have_text(before[2])
    # The page shows the price with its unit ("3,012.50 USDC").
    assert Decimal(last_price.inner_text().split()[0].replace(",", "")) == mark
    expect(page.locator("#fills tr.lw-fill")).to_have_count(1)
    assert page.evaluate("window.__sameDocument") is True
    live._shot(page, "mark-moved-without-a-fill")
    page.click("#action-stop")
    expect(page.locator("#bot-status")).to_have_text("stopped", timeout=live.STEP_MS)
