"""Dead-man's switch per account against the simulator (real SDK, real Redis, manual clock)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from bots.engine.deadman import ARM_SECONDS, deadman_sync, deadman_sync_all
from bots.engine.leases import BotLease
from bots.models import ExchangeAccount, GridBot
from exchange.orders import OrderRequest
from exchange.types import OrderSide
from tests.bots.runner_support import account_on, grid_bot, sim_mid, sim_open_orders

pytestmark = pytest.mark.django_db

ETH = 0


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url) -> Iterator[None]:
    settings.REDIS_URL = redis_url
    yield


@pytest.fixture
def account(simulator, funded_account) -> ExchangeAccount:
    account = account_on(simulator, funded_account)
    account.dead_mans_switch = True
    account.save()
    return account


def _scheduled_cancel_ms(account: ExchangeAccount) -> int:
    async def read() -> int:
        async with account.client() as client:
            return (await client.account()).cancel_all_time_ms

    return asyncio.run(read())


def _runner_alive(redis_client, bot: GridBot) -> BotLease:
    lease = BotLease(redis_client, bot.pk)
    assert lease.acquire() is not None
    return lease


def test_the_switch_is_armed_minutes_ahead_while_a_runner_is_alive(account, redis_client):
    bot = grid_bot(account, "ETH")
    _runner_alive(redis_client, bot)

    outcome = deadman_sync(account, redis_client)

    assert outcome == "armed"
    account.refresh_from_db()
    assert account.dead_mans_switch_armed_until is not None
    scheduled_s = _scheduled_cancel_ms(account) / 1000
    assert scheduled_s == pytest.approx(account.dead_mans_switch_armed_until.timestamp(), abs=1)
    assert scheduled_s == pytest.approx(time.time() + ARM_SECONDS, abs=30)


def test_paper_accounts_have_it_off_by_default(account, redis_client):
    account.dead_mans_switch = None
    account.save()
    _runner_alive(redis_client, grid_bot(account, "ETH"))

    assert deadman_sync(account, redis_client) == "unchanged"
    assert _scheduled_cancel_ms(account) == 0


def test_mainnet_accounts_have_it_on_by_default():
    assert ExchangeAccount(network="mainnet").dead_mans_switch_enabled is True
    assert ExchangeAccount(network="paper").dead_mans_switch_enabled is False


def test_a_clean_stop_of_the_last_bot_aborts_the_switch(account, redis_client):
    bot = grid_bot(account, "ETH")
    lease = _runner_alive(redis_client, bot)
    deadman_sync(account, redis_client)
    lease.release()
    GridBot.objects.filter(pk=bot.pk).update(desired_state="stopped", status="stopped")
    account.refresh_from_db()

    outcome = deadman_sync(account, redis_client)

    assert outcome == "aborted"
    assert _scheduled_cancel_ms(account) == 0
    account.refresh_from_db()
    assert account.dead_mans_switch_armed_until is None


def test_a_dead_runner_leaves_the_switch_armed_and_unrenewed(account, redis_client):
    bot = grid_bot(account, "ETH")
    lease = _runner_alive(redis_client, bot)
    deadman_sync(account, redis_client)
    armed_ms = _scheduled_cancel_ms(account)
    lease.release()  # the runner is gone but the bot should still run
    account.refresh_from_db()

    outcome = deadman_sync(account, redis_client)

    assert outcome == "unchanged"
    assert _scheduled_cancel_ms(account) == armed_ms


def test_an_armed_switch_that_is_not_renewed_cancels_the_resting_orders(
    simulator, account, redis_client
):
    bot = grid_bot(account, "ETH")
    _runner_alive(redis_client, bot)
    mid = sim_mid(simulator, ETH)
    (index,) = account.allocate_client_order_indexes(1)
    request = OrderRequest(
        OrderSide.BUY, Decimal("0.01"), (mid * Decimal("0.9")).quantize(Decimal("0.1")), index
    )

    async def place() -> None:
        async with account.client() as client:
            (ticket,) = await client.place_orders(ETH, [request])
            await client.resolve(ticket, 5.0)

    asyncio.run(place())
    deadman_sync(account, redis_client)
    assert len(sim_open_orders(simulator, account.account_index, ETH)) == 1

    simulator.advance((ARM_SECONDS + 60) * 1000)

    assert sim_open_orders(simulator, account.account_index, ETH) == []


def test_the_beat_sweep_arms_every_account_with_a_live_runner(account, redis_client):
    bot = grid_bot(account, "ETH")
    _runner_alive(redis_client, bot)

    outcomes = deadman_sync_all()

    assert outcomes == {account.pk: "armed"}


@pytest.fixture
def live_clock_account():
    """An account on a simulator whose clock runs with the wall clock, as Lighter's does."""
    from tests.plugins.simulator import run_simulator

    sims = run_simulator(manual_clock=False)
    simulator = next(sims)
    try:
        account = account_on(simulator, simulator.create_account())
        account.dead_mans_switch = True
        account.save()
        yield account
    finally:
        next(sims, None)


def test_the_switch_is_armed_far_enough_ahead_for_lighters_five_minute_minimum(
    live_clock_account, redis_client
):
    # Lighter refuses a scheduled cancel-all less than 5 minutes ahead when it arrives: armed
    # exactly 300 s ahead it is refused every time (21714).
    bot = grid_bot(live_clock_account, "ETH")
    _runner_alive(redis_client, bot)

    assert deadman_sync(live_clock_account, redis_client) == "armed"
    assert _scheduled_cancel_ms(live_clock_account) / 1000 >= time.time() + 5 * 60


@pytest.fixture
def taker(simulator) -> ExchangeAccount:
    taker = account_on(simulator, simulator.create_account())
    taker.dead_mans_switch = True
    taker.save()
    return taker


def test_a_hedge_bots_live_runner_arms_both_legs_accounts(account, taker, redis_client):
    from tests.bots.hedge_support import hedge_bot

    bot = hedge_bot(account, taker)
    _runner_alive(redis_client, bot)

    assert deadman_sync_all() == {account.pk: "armed", taker.pk: "armed"}
    assert _scheduled_cancel_ms(account) > 0
    assert _scheduled_cancel_ms(taker) > 0


@pytest.mark.django_db(transaction=True)  # the release reads the bots on the runner's DB thread
def test_a_grids_clean_stop_keeps_the_switch_while_a_hedge_bot_trades_on_the_account(
    account, taker, redis_client
):
    """The grid's runner stops cleanly on the account where a running hedge bot has its taker
    leg: the switch that protects the hedge bot stays armed."""
    from bots.engine import recovery
    from tests.bots.hedge_support import hedge_bot

    grid = grid_bot(taker, "ETH")
    hedge = hedge_bot(account, taker)
    type(hedge).objects.filter(pk=hedge.pk).update(status="running")
    lease = _runner_alive(redis_client, hedge)
    assert deadman_sync(taker, redis_client) == "armed"
    armed_ms = _scheduled_cancel_ms(taker)
    GridBot.objects.filter(pk=grid.pk).update(desired_state="stopped", status="stopped")

    async def release() -> None:
        async with taker.client() as client:
            await recovery.dead_mans_switch_release(client, taker, grid)

    asyncio.run(release())

    assert _scheduled_cancel_ms(taker) == armed_ms
    taker.refresh_from_db()
    assert taker.dead_mans_switch_armed_until is not None
    # Once the hedge bot is stopped too, the beat's sweep aborts it.
    type(hedge).objects.filter(pk=hedge.pk).update(desired_state="stopped", status="stopped")
    lease.release()
    assert deadman_sync(taker, redis_client) == "aborted"
    assert _scheduled_cancel_ms(taker) == 0
