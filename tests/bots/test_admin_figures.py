"""The admin shows figures people can read: market decimals, units, times with seconds."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from bots.models import Fill, GridBot
from tests.lighterweb.factories import make_account, make_bot, make_market

pytestmark = pytest.mark.django_db


@pytest.fixture
def bot() -> GridBot:
    return make_bot(make_account(), make_market(), step=Decimal("10"), size=Decimal("0.01"))


def test_fill_list_shows_prices_and_sizes_in_market_decimals_with_units(admin_client, bot):
    Fill.objects.create(
        account=bot.account,
        market=bot.market,
        bot=bot,
        trade_id=7,
        side="buy",
        price=Decimal("3990"),
        size_base=Decimal("0.01"),
        fee=Decimal("0.0009977512"),
        is_maker=True,
        executed_at=datetime(2026, 12, 5, 17, 4, 9, tzinfo=UTC),
    )

    text = admin_client.get(reverse("admin:bots_fill_changelist")).text

    assert "3990.00 USDC" in text
    assert "0.0100 ETH" in text
    assert "0.000998 USDC" in text
    assert "2026-12-05 17:04:09 UTC" in text
    assert "0000000" not in text


def test_grid_bot_form_shows_plain_numbers_and_the_centre_as_a_price(admin_client, bot):
    GridBot.objects.filter(pk=bot.pk).update(anchor_price=Decimal("4000"), centre_index=-1)

    text = admin_client.get(reverse("admin:bots_gridbot_change", args=[bot.pk])).text

    assert 'name="step" value="10"' in text
    assert "10.0000000000" not in text
    assert "3990.00 USDC (level -1 from the anchor)" in text


def test_grid_bot_list_shows_step_and_size_with_units(admin_client, bot):
    text = admin_client.get(reverse("admin:bots_gridbot_changelist")).text

    assert "10.00 USDC" in text
    assert "0.0100 ETH" in text
