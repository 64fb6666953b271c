"""In headless Chromium (issue 15): the bot page's price chart shows the market's candles from the
first load (the simulator's candlesticks through our cached endpoint), the grid levels, resting
orders and fills; the PnL-over-time charts (the bot's, and its account's on the overview) have
points once the real snapshot task has run; at
390 px nothing scrolls sideways. Daphne and a bots worker as real processes (test_dashboard_live).
"""

from __future__ import annotations

import pytest

from bots.history.tasks import pnl_snapshot_task
from bots.models import GridBot, PnlSnapshot
from tests.bots.backtest.test_recorder import trade
from tests.bots.runner_support import GRID_SHAPES
from tests.browser import test_dashboard_live as live

playwright_sync = live.playwright_sync
stack_env, site, eth_bot, page = live.stack_env, live.site, live.eth_bot, live.page
__all__ = ["eth_bot", "page", "site", "stack_env"]

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ETH = live.ETH_MARKET_ID


def _dataset(page, name: str) -> int:  # type: ignore[no-untyped-def]
    return int(page.evaluate(f"document.getElementById('lw-page').dataset.{name} || '0'"))


def _candles_loaded(page) -> int:  # type: ignore[no-untyped-def]
    """The candles drawn once the page's read of them answered (it sets `data-resolution`): a
    live price pushed before that answer draws a candle of its own, and counting then found 1
    (seen once in CI)."""
    playwright_sync.expect(page.locator("#lw-page")).to_have_attribute("data-resolution", "1m")
    return _dataset(page, "candles")


def test_price_chart_has_history_levels_orders_and_fills_and_pnl_chart_has_points(  # type: ignore[no-untyped-def]
    eth_bot, site, page, simulator, redis_url
):
    expect = playwright_sync.expect
    # Someone else trades first: the market has candles before the bot's page is ever opened.
    trader = simulator.create_account()
    # (off this thread, like every ORM or asyncio call here: Playwright runs a loop on it)
    live._db(lambda: trade(simulator, trader, redis_url, 2, 100))
    simulator.advance(60_000)
    live._db(lambda: trade(simulator, trader, redis_url, 1, 200))

    live._log_in(page, site, f"/dashboard/bots/{eth_bot.pk}/")
    expect(page.locator("#lw-page")).to_have_attribute("data-candles", "2")
    expect(page.locator("#pnl-chart-note")).to_contain_text("no snapshots yet")

    page.click("#action-start")
    expect(page.locator("#orders tr.lw-order")).to_have_count(2 * live.LEVELS, timeout=live.STEP_MS)
    top_buy = live._db(lambda: live._top_buy_price(eth_bot))
    step = GRID_SHAPES["ETH"]["step"]
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": str(top_buy - step / 2)})
    simulator.advance(1000)
    expect(page.locator("#fills tr.lw-fill")).to_have_count(1, timeout=live.STEP_MS)
    expect(page.locator("#bot-status")).to_have_text("running")

    # The beat task's own code, as the default worker runs it, writes the bot's snapshot.
    assert live._db(pnl_snapshot_task) == 1
    assert live._db(lambda: PnlSnapshot.objects.filter(bot=eth_bot).count()) == 1

    # A fresh load: history, levels, orders and the fill are all drawn at once.
    page.reload()
    expect(page.locator("#lw-conn")).to_have_text("live")
    expect(page.locator("#lw-page")).to_have_attribute("data-pnl-points", "1")
    assert _candles_loaded(page) >= 2
    expect(page.locator("#lw-page")).to_have_attribute("data-level-lines", str(2 * live.LEVELS))
    # One marker per resting order and one for the fill.
    expect(page.locator("#lw-page")).to_have_attribute("data-markers", str(2 * live.LEVELS + 1))
    canvas = page.locator("#chart canvas").first
    assert canvas.bounding_box()["width"] > 600
    live._shot(page, "bot-charts-desktop")

    # Another resolution re-reads the candles (the three trades fall in one 5-minute candle or two).
    page.select_option("#chart-resolution", "5m")
    expect(page.locator("#lw-page")).to_have_attribute("data-resolution", "5m")
    assert 1 <= _dataset(page, "candles") <= 2

    # The overview's chart of the account: the sum of its bots' snapshots.
    page.goto(f"{site.url}/dashboard/")
    expect(page.locator("#account-pnl")).to_have_attribute("data-points", "1")

    page.set_viewport_size({"width": 390, "height": 900})
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    page.goto(f"{site.url}/dashboard/bots/{eth_bot.pk}/")
    expect(page.locator("#lw-page")).to_have_attribute("data-pnl-points", "1")
    assert _candles_loaded(page) >= 2
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    assert page.locator("#chart canvas").first.bounding_box()["width"] <= 390
    live._shot(page, "bot-charts-phone")
    page.set_viewport_size({"width": 1400, "height": 1500})
    page.click("#action-stop")
    expect(page.locator("#bot-status")).to_have_text("stopped", timeout=live.STEP_MS)
    assert live._db(lambda: GridBot.objects.get(pk=eth_bot.pk).status) == "stopped"
