"""Live account balances for the dashboard: refreshed from the simulator for active accounts."""

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from bots import account_summaries, accounts, services
from bots.models import BotStatus, ExchangeAccount
from exchange.types import OrderSide, PositionInfo
from tests.lighterweb.factories import make_account, make_bot, make_hedge_bot, make_market

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url


def _account(simulator, sim_account, **overrides):
    fields = {"base_url_override": simulator.base_url, **overrides}
    account = make_account(
        tier="premium",
        account_index=sim_account.index,
        api_key_index=sim_account.api_key_index,
        l1_address=sim_account.l1_address,
        **fields,
    )
    account.set_api_private_key(sim_account.private_key)
    account.save()
    return account


def test_refresh_stores_the_exchange_balances_shown_by_the_summary(simulator, funded_account):
    account = _account(simulator, funded_account)

    summary = services.account_refresh(account)

    account.refresh_from_db()
    shown = account_summaries.account_summary(account, with_budget=False)
    assert Decimal(summary["collateral"]) == Decimal("100000")
    assert shown.equity == Decimal("100000")
    assert shown.available_balance == Decimal("100000")
    assert account.last_checked_at is not None
    assert account.last_error == ""


def test_only_accounts_with_running_or_paused_bots_are_refreshed(simulator):
    active = _account(simulator, simulator.create_account())
    idle = _account(simulator, simulator.create_account())
    market = make_market()
    make_bot(active, market, status=BotStatus.RUNNING)
    make_bot(idle, market, status=BotStatus.STOPPED)

    outcome = services.accounts_refresh_active()

    assert outcome == {active.pk: "ok"}
    assert ExchangeAccount.objects.get(pk=idle.pk).last_checked_at is None


def test_a_running_hedge_bots_taker_account_is_refreshed_too(simulator):
    """The hedge page's net exposure is A + B from both accounts' checks: B has no bot of its
    own, and was never checked (the net stayed "unknown" on a running paper hedge)."""
    maker = _account(simulator, simulator.create_account())
    taker = _account(simulator, simulator.create_account())
    make_hedge_bot(maker, taker, make_market(), status=BotStatus.RUNNING)

    outcome = services.accounts_refresh_active()

    assert outcome == {maker.pk: "ok", taker.pk: "ok"}
    assert ExchangeAccount.objects.get(pk=taker.pk).last_checked_at is not None


def test_a_failed_refresh_is_reported_and_stored_not_raised(simulator, funded_account):
    account = _account(simulator, funded_account, base_url_override="http://127.0.0.1:9")
    make_bot(account, make_market(), status=BotStatus.PAUSED)

    outcome = services.accounts_refresh_active()

    assert outcome[account.pk] != "ok"
    assert ExchangeAccount.objects.get(pk=account.pk).last_error != ""


def test_the_summary_shows_each_positions_average_entry_and_unrealized_pnl(
    simulator, funded_account
):
    account = _account(simulator, funded_account)
    services.markets_sync(account)
    (index,) = account.allocate_client_order_indexes(1)

    async def buy_then_read() -> PositionInfo:
        async with account.client() as client:
            ticket = await client.market_order(0, OrderSide.BUY, Decimal("0.1"), index)
            await client.resolve(ticket, 5.0, final=True)
            position = (await client.account()).position(0)
            assert position is not None
            return position

    venue = asyncio.run(buy_then_read())
    simulator.sim("POST", "/sim/price", {"market_id": 0, "price": "3030.00"})
    simulator.advance(1000)

    services.account_refresh(account)

    account.refresh_from_db()
    (shown,) = account_summaries.account_summary(account, with_budget=False).positions
    assert shown.symbol == "ETH" and shown.size_base == Decimal("0.1")
    assert shown.avg_entry_price == venue.avg_entry_price
    assert shown.unrealized_pnl is not None and shown.unrealized_pnl > 0


def test_an_account_read_recently_is_not_read_again_until_its_reconcile_is_due(simulator):
    account = _account(simulator, simulator.create_account())
    make_bot(account, make_market(), status=BotStatus.RUNNING)
    assert services.accounts_refresh_active() == {account.pk: "ok"}
    first = ExchangeAccount.objects.get(pk=account.pk).last_checked_at

    # The beat looks every 15 s; the REST read (budget) is spent only every reconcile period.
    assert services.accounts_refresh_active() == {account.pk: "fresh"}
    assert ExchangeAccount.objects.get(pk=account.pk).last_checked_at == first

    stale = first - timedelta(seconds=accounts.ACCOUNT_RECONCILE_SECONDS + 1)
    ExchangeAccount.objects.filter(pk=account.pk).update(last_checked_at=stale)
    assert services.accounts_refresh_active() == {account.pk: "ok"}
