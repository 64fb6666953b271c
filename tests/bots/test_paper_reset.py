"""Reset paper account: the paper venue and the paper bots' books start over together."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from bots import services
from bots.models import BotEvent, Fill, GridBot, Order
from tests.bots.runner_support import (
    account_on,
    finish,
    full_eth_grid,
    grid_bot,
    quiet,
    set_desired,
    sim_open_orders,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)
ETH = 0


@pytest.fixture(autouse=True)
def _paper_venue(settings, redis_url, simulator):
    settings.REDIS_URL = redis_url
    settings.LIGHTER_PAPER_URL = simulator.base_url


async def _traded_then_stopped(simulator, funded_account) -> tuple[object, GridBot]:
    account, bot, runner, task = await full_eth_grid(simulator, funded_account)
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "3012.00"})
    simulator.advance(1000)

    async def filled() -> bool:
        has_fill = await sync_to_async(Fill.objects.filter(bot=bot).exists)()
        return has_fill and quiet(runner, simulator)

    await wait_until(filled, what="a recorded fill")
    await sync_to_async(set_desired)(bot, "stopped")
    assert await finish(task) == "stopped"
    return account, bot


async def test_reset_empties_the_venue_and_the_books_together(simulator, funded_account):
    _account, bot = await _traded_then_stopped(simulator, funded_account)
    assert simulator.call(lambda: simulator.engine.state.accounts[funded_account.index].positions)

    report = await sync_to_async(services.paper_reset)(actor="alice")

    assert report.fills > 0 and report.orders > 0
    assert funded_account.index not in simulator.call(lambda: simulator.engine.state.accounts)
    assert sim_open_orders(simulator, funded_account.index, ETH) == []
    counts = await sync_to_async(
        lambda: (Order.objects.filter(bot=bot).count(), Fill.objects.filter(bot=bot).count())
    )()
    assert counts == (0, 0)
    row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
    assert (row.anchor_price, row.centre_index, row.status) == (None, None, "stopped")
    event = await sync_to_async(
        lambda: BotEvent.objects.filter(bot=bot, kind="paper_reset").get()
    )()
    assert "alice" in event.message


def test_reset_is_refused_while_a_paper_bot_should_run(simulator, funded_account):
    account = account_on(simulator, funded_account)
    bot = grid_bot(account, "ETH")  # desired running
    order_count = Order.objects.count()

    with pytest.raises(services.PaperResetRefused, match=bot.name):
        services.paper_reset(actor="alice")
    assert Order.objects.count() == order_count


def test_reset_is_refused_and_nothing_deleted_when_the_venue_does_not_answer(
    settings, simulator, funded_account
):
    account = account_on(simulator, funded_account)
    bot = grid_bot(account, "ETH")
    set_desired(bot, "stopped")
    Order.objects.create(
        bot=bot, account=account, market=bot.market, client_order_index=1, side="buy",
        price=1, size_base=1, status="open",
    )  # fmt: skip
    settings.LIGHTER_PAPER_URL = "http://127.0.0.1:9"  # nothing listens there

    with pytest.raises(services.PaperResetRefused, match="did not reset"):
        services.paper_reset(actor="alice")
    assert Order.objects.filter(bot=bot).count() == 1


def test_the_admin_action_asks_for_confirmation_first(client, simulator, funded_account):
    account = account_on(simulator, funded_account)
    admin = get_user_model().objects.create_superuser("root", "r@example.com", "a-long-password!")
    client.force_login(admin)
    url = "/admin/bots/exchangeaccount/"
    selection = {"action": "reset_paper", "_selected_action": [account.pk]}

    asked = client.post(url, selection)
    assert asked.status_code == 200 and b"Reset the paper venue?" in asked.content
    assert funded_account.index in simulator.call(lambda: simulator.engine.state.accounts)

    done = client.post(url, {**selection, "confirm": "reset"}, follow=True)
    assert b"Paper venue reset" in done.content
    assert funded_account.index not in simulator.call(lambda: simulator.engine.state.accounts)
