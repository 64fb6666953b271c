"""A hedge bot owns its legs (README "How positions are owned"): its maker leg's position on
account A and its taker leg's on account B, each from its fills on that account, not an
unattributed remainder on both."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from bots import ownership
from bots.models import ExchangeAccount, Fill, HedgeBot
from exchange.types import OrderSide
from tests.bots.api_helpers import Api, api, staff  # noqa: F401
from tests.bots.test_positions import account_on, eth, open_position
from tests.lighterweb.factories import make_bot, make_hedge_bot

pytestmark = pytest.mark.django_db
__all__ = ["api", "staff"]  # fixtures, imported for this module's tests


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url


def _fill(bot: HedgeBot, account: ExchangeAccount, side: str, size: str) -> None:
    Fill.objects.create(
        account=account, market=bot.market, bot=bot, trade_id=1, side=side,
        price=Decimal("3000"), size_base=Decimal(size), fee=Decimal(0),
        is_maker=account == bot.account, executed_at=timezone.now(),
    )  # fmt: skip


@pytest.fixture
def hedged(simulator) -> tuple[HedgeBot, ExchangeAccount, ExchangeAccount]:
    """A running hedge bot whose open leg is on the venue: A long 0.2, B short 0.2."""
    maker = account_on(simulator, simulator.create_account())
    taker = account_on(simulator, simulator.create_account())
    bot = make_hedge_bot(maker, taker, eth(), size=Decimal("0.2"))
    HedgeBot.objects.filter(pk=bot.pk).update(desired_state="running", status="running")
    open_position(maker, OrderSide.BUY, "0.2")
    open_position(taker, OrderSide.SELL, "0.2")
    _fill(bot, maker, "buy", "0.2")
    _fill(bot, taker, "sell", "0.2")
    return bot, maker, taker


@pytest.mark.parametrize(("leg", "size"), [("maker", "0.2"), ("taker", "-0.2")])
def test_the_positions_api_shows_the_hedge_bot_as_owner_of_each_leg(api, hedged, leg, size):
    bot, maker, taker = hedged
    account = maker if leg == "maker" else taker

    response = api.get(f"/api/accounts/{account.pk}/positions")

    assert response.status_code == 200
    [row] = response.json()
    assert row["size"] == size
    assert [(o["bot_id"], o["size"]) for o in row["owners"]] == [(bot.pk, size)]
    assert row["unattributed"] == "0"


def test_the_accounts_ownership_splits_each_leg_to_the_bot(hedged):
    bot, maker, taker = hedged
    for account, size in ((maker, "0.2"), (taker, "-0.2")):
        ExchangeAccount.objects.filter(pk=account.pk).update(
            last_check_summary={
                "positions": [{"symbol": "ETH", "side": "long" if size[0] != "-" else "short",
                               "size": size.lstrip("-")}]
            }
        )  # fmt: skip
        account.refresh_from_db()

        [row] = ownership.account_ownership(account)

        assert [(pk, size_base) for pk, _, size_base in row.bots] == [(bot.pk, Decimal(size))]
        assert row.unattributed == 0


def test_a_grid_starting_on_the_taker_account_is_told_the_stopped_hedge_bot_holds_it(hedged):
    bot, _, taker = hedged
    HedgeBot.objects.filter(pk=bot.pk).update(desired_state="stopped", status="stopped")
    grid = make_bot(taker, bot.market, name="grid-on-b")

    question = ownership.start_question(grid)

    assert question.size_base == Decimal("-0.2")
    assert question.held_by == [(bot.pk, bot.name, Decimal("-0.2"))]
