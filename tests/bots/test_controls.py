"""Operator controls end to end against the simulator: orders really gone, positions as promised.

No runner is alive in these tests (no lease is held), which is the case services must handle
themselves: a crashed or never-started bot. The Celery task they enqueue runs eagerly here, on
commit. Orders are read back from the simulator's engine, positions from its REST API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal

import pytest

from bots import services
from bots.models import GridBot, Order, OrderStatus
from exchange.client import LighterClient
from exchange.orders import OrderRequest
from exchange.types import OrderSide
from lighterweb.celery import app
from tests.bots.runner_support import account_on, grid_bot, sim_mid, sim_open_orders

pytestmark = pytest.mark.django_db(transaction=True)

ETH, BTC = 0, 1


@pytest.fixture(autouse=True)
def _real_redis_and_eager_tasks(settings, redis_url, redis_client) -> Iterator[None]:
    # redis_client starts from an empty database: no lease left by another test's bot id.
    settings.REDIS_URL = redis_url
    app.conf.update(task_always_eager=True)
    yield
    app.conf.update(task_always_eager=False)


def _client(account) -> LighterClient:
    return account.client()


def _rest(simulator, account, market_id: int, count: int, *, bot=None, side=OrderSide.BUY):
    """Place `count` resting post-only orders away from the mid; Order rows when `bot` is given."""
    mid = sim_mid(simulator, market_id)
    indexes = account.allocate_client_order_indexes(count)
    step = mid / 100
    prices = [
        (mid - step * (i + 2)) if side is OrderSide.BUY else (mid + step * (i + 2))
        for i in range(count)
    ]
    size = Decimal("0.01") if market_id == ETH else Decimal("0.001")
    requests = [
        OrderRequest(side, size, price.quantize(Decimal("0.1")), index, post_only=True)
        for index, price in zip(indexes, prices, strict=True)
    ]

    async def place() -> None:
        async with _client(account) as client:
            tickets = await client.place_orders(market_id, requests)
            for ticket in tickets:
                await client.resolve(ticket, 5.0)

    asyncio.run(place())
    if bot is not None:
        for request in requests:
            Order.objects.create(
                bot=bot,
                account=account,
                market=bot.market,
                client_order_index=request.client_order_index,
                side=str(request.side),
                price=request.price,
                size_base=request.size,
                status=OrderStatus.OPEN,
            )
    return [r.client_order_index for r in requests]


def _take_position(account, market_id: int, size: Decimal) -> None:
    (index,) = account.allocate_client_order_indexes(1)

    async def buy() -> None:
        async with _client(account) as client:
            ticket = await client.market_order(market_id, OrderSide.BUY, size, index)
            await client.resolve(ticket, 5.0, final=True)

    asyncio.run(buy())


def _position(account, market_id: int) -> Decimal:
    async def read() -> Decimal:
        async with _client(account) as client:
            position = (await client.account()).position(market_id)
            return Decimal(0) if position is None else position.size

    return asyncio.run(read())


def _open_indexes(simulator, account, market_id: int) -> set[int]:
    return {
        o.client_order_index for o in sim_open_orders(simulator, account.account_index, market_id)
    }


@pytest.fixture
def account(simulator, funded_account):
    return account_on(simulator, funded_account)


def test_stop_without_a_runner_cancels_only_the_bots_orders_and_keeps_the_position(
    simulator, account
):
    bot = grid_bot(account, "ETH")
    GridBot.objects.filter(pk=bot.pk).update(status="running")
    _take_position(account, ETH, Decimal("0.05"))
    ours = _rest(simulator, account, ETH, 3, bot=bot)
    foreign = _rest(simulator, account, ETH, 1)

    services.bot_stop(bot, actor="op")

    assert _open_indexes(simulator, account, ETH) == set(foreign)
    assert _position(account, ETH) == Decimal("0.05")
    bot.refresh_from_db()
    assert bot.status == "stopped"
    statuses = set(
        Order.objects.filter(client_order_index__in=ours).values_list("status", flat=True)
    )
    assert statuses == {"canceled"}
    assert bot.events.filter(kind="orders_cancelled").exists()


def test_stop_without_a_runner_resolves_intents_the_exchange_never_saw(simulator, account):
    bot = grid_bot(account, "ETH")
    (index,) = account.allocate_client_order_indexes(1)
    intent = Order.objects.create(
        bot=bot,
        account=account,
        market=bot.market,
        client_order_index=index,
        side="buy",
        price=Decimal("2900"),
        size_base=Decimal("0.01"),
        status=OrderStatus.INTENT,
    )

    services.bot_stop(bot, actor="op")

    intent.refresh_from_db()
    assert (intent.status, intent.reason) == ("rejected", "never executed by the exchange")
    assert GridBot.objects.get(pk=bot.pk).status == "stopped"


def test_cancel_all_of_a_paused_bot_cancels_its_orders_and_leaves_it_paused(simulator, account):
    bot = grid_bot(account, "ETH")
    GridBot.objects.filter(pk=bot.pk).update(desired_state="paused", status="paused")
    _rest(simulator, account, ETH, 2, bot=bot)

    services.bot_cancel_all(bot, actor="op")

    assert _open_indexes(simulator, account, ETH) == set()
    bot.refresh_from_db()
    assert (bot.desired_state, bot.status) == ("paused", "paused")
    assert bot.cancel_all_requested_at is None


def test_pause_keeps_the_resting_orders(simulator, account):
    bot = grid_bot(account, "ETH")
    ours = _rest(simulator, account, ETH, 3, bot=bot)

    services.bot_pause(bot, actor="op")

    assert _open_indexes(simulator, account, ETH) == set(ours)
    assert GridBot.objects.get(pk=bot.pk).desired_state == "paused"


def test_bot_emergency_stop_cancels_every_order_of_the_account_on_its_market(simulator, account):
    bot = grid_bot(account, "ETH")
    _take_position(account, ETH, Decimal("0.02"))
    _rest(simulator, account, ETH, 2, bot=bot)
    _rest(simulator, account, ETH, 1)
    other_market = _rest(simulator, account, BTC, 1)

    services.bot_emergency_stop(bot, actor="op")

    assert _open_indexes(simulator, account, ETH) == set()
    assert _open_indexes(simulator, account, BTC) == set(other_market)
    assert _position(account, ETH) == Decimal("0.02")
    assert GridBot.objects.get(pk=bot.pk).desired_state == "stopped"
    assert bot.events.filter(kind="orders_cancelled").exists()


def test_emergency_stop_all_stops_every_bot_and_empties_every_account(simulator, account):
    second = account_on(simulator, simulator.create_account())
    eth_bot = grid_bot(account, "ETH")
    btc_bot = grid_bot(second, "BTC")
    _take_position(account, ETH, Decimal("0.03"))
    _rest(simulator, account, ETH, 2, bot=eth_bot)
    _rest(simulator, account, BTC, 2)
    _rest(simulator, second, BTC, 2, bot=btc_bot)

    report = services.emergency_stop_all(actor="op")

    assert report.verified
    assert sorted(report.bots_stopped) == sorted([eth_bot.pk, btc_bot.pk])
    for acct in (account, second):
        for market_id in (ETH, BTC):
            assert _open_indexes(simulator, acct, market_id) == set()
    assert _position(account, ETH) == Decimal("0.03")
    assert set(GridBot.objects.values_list("desired_state", flat=True)) == {"stopped"}


def test_cancel_all_of_one_symbol_pauses_its_bots_and_leaves_other_symbols(simulator, account):
    eth_bot = grid_bot(account, "ETH")
    btc_bot = grid_bot(account, "BTC")
    _rest(simulator, account, ETH, 2, bot=eth_bot)
    btc_orders = _rest(simulator, account, BTC, 2, bot=btc_bot)

    reports = services.cancel_all(None, eth_bot.market, actor="op")

    assert [r.verified for r in reports] == [True]
    assert _open_indexes(simulator, account, ETH) == set()
    assert _open_indexes(simulator, account, BTC) == set(btc_orders)
    assert GridBot.objects.get(pk=eth_bot.pk).desired_state == "paused"
    assert GridBot.objects.get(pk=btc_bot.pk).desired_state == "running"


def test_global_cancel_all_empties_the_account(simulator, account):
    _rest(simulator, account, ETH, 2)
    _rest(simulator, account, BTC, 2)

    reports = services.cancel_all(account, None, actor="op")

    assert [r.cancelled for r in reports] == [4]
    assert _open_indexes(simulator, account, ETH) == _open_indexes(simulator, account, BTC) == set()
