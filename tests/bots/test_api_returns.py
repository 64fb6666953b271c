"""Returns on the API (README "Returns"): the bot's PnL endpoint and the account summary."""
# ruff: noqa: F811 - pytest fixtures imported from tests.bots.api_helpers

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bots.models import PnlSnapshot
from tests.bots.api_helpers import (  # noqa: F401 - fixtures
    account,
    api,
    bot,
    make_fill,
    make_order,
    market,
    staff,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def traded(bot):
    """Leverage 5 (the market allows 50): 20 % initial margin. A buy 0.01 at 3990 rests and a
    sell 0.01 at 4010 is half filled; one round trip (+0.10) and 0.01 ETH long from 3990 at the
    market's 4000; two days from the first fill to the stop; snapshots 0, 0.5, 0.1."""
    t0 = timezone.now() - timedelta(days=3)
    bot.leverage = Decimal("5")
    bot.stopped_at = t0 + timedelta(days=2)
    bot.save()
    make_order(bot, 1)
    make_order(
        bot,
        2,
        side="sell",
        price=Decimal("4010"),
        status="partially_filled",
        filled_base=Decimal("0.005"),
        level_index=1,
    )
    make_fill(bot, 1, side="buy", price=Decimal("3990"), level_index=-1, executed_at=t0)
    make_fill(
        bot,
        2,
        side="sell",
        price=Decimal("4000"),
        level_index=0,
        executed_at=t0 + timedelta(hours=1),
    )
    make_fill(
        bot,
        3,
        side="buy",
        price=Decimal("3990"),
        level_index=-1,
        executed_at=t0 + timedelta(hours=2),
    )
    for minute, total in enumerate(("0", "0.5", "0.1")):
        PnlSnapshot.objects.create(
            bot=bot,
            time=t0 + timedelta(minutes=minute),
            total=Decimal(total),
            realized=0,
            inventory=0,
            fees=0,
            funding=0,
            position=0,
        )
    return bot


def test_bot_pnl_carries_capital_roi_apr_round_trips_and_drawdown(api, traded):
    returns = api.get(f"/api/bots/{traded.pk}/pnl").json()["returns"]

    # Orders: (3990 x 0.01 + 4010 x 0.005) x 20 % = 11.99; position 0.01 x 4000 x 20 % = 8.
    assert returns["capital_orders"] == "11.99"
    assert returns["capital_position"] == "8"
    assert returns["capital"] == "19.99"
    assert returns["total"] == "0.2"  # 0.10 grid profit + 0.10 inventory
    assert returns["roi_percent"] == "1.0005"  # 0.2 / 19.99
    assert returns["days"] == "2"
    assert returns["apr_percent"] == "182.5913"  # 1.0005 % x 365 / 2
    assert returns["round_trips"] == 1
    assert returns["round_trip_avg_profit"] == "0.1"
    assert returns["round_trip_profit_per_day"] == "0.05"
    assert returns["max_drawdown"] == "0.4"  # 0.5 -> 0.1


def test_a_bot_without_capital_or_fills_has_no_ratios(api, bot):
    returns = api.get(f"/api/bots/{bot.pk}/pnl").json()["returns"]

    assert returns["capital"] == "0"
    assert returns["roi_percent"] is None
    assert returns["apr_percent"] is None
    assert returns["round_trip_avg_profit"] is None
    assert returns["max_drawdown"] == "0"


def test_account_summary_sums_its_bots_returns(api, account, traded):
    returns = api.get(f"/api/accounts/{account.pk}/summary").json()["returns"]

    assert returns["capital"] == "19.99"
    assert returns["total"] == "0.2"
    assert returns["roi_percent"] == "1.0005"
    assert returns["apr_percent"] == "182.5913"  # its only bot's two days
    assert returns["round_trips"] == 1
    assert returns["max_drawdown"] == "0.4"
    [listed] = api.get("/api/accounts/summaries").json()
    assert listed["returns"]["capital"] == "19.99"


def test_a_row_with_leverage_below_one_reads_as_one_not_a_500(api, bot):
    # The model refuses it; a row written around the model must not break the PnL read.
    type(bot).objects.filter(pk=bot.pk).update(leverage=Decimal("0"))
    make_order(bot, 1)

    response = api.get(f"/api/bots/{bot.pk}/pnl")

    assert response.status_code == 200
    assert response.json()["returns"]["capital_orders"] == "39.9"  # 3990 x 0.01 at 1x
