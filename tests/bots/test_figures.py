"""API and dashboard figures: quote amounts to the venue's 6 decimals, a bot's units and centre."""

from decimal import Decimal

import pytest

from bots import figures
from bots.schemas import GridBotOut, payload
from bots.selectors import BotPnl
from bots.strategies.accounting import PnlSummary
from bots.summary_schemas import PnlOut
from tests.lighterweb.factories import make_account, make_bot, make_market

D = Decimal


def test_pnl_figures_have_at_most_six_decimals_and_no_trailing_zeros() -> None:
    summary = PnlSummary(
        position_base=D("0.0100000000"),
        avg_entry_price=D("3990.123456789"),
        mark_price=D("3990"),
        realized=D("-0.009977512462612164"),
        grid_profit=D("0.1000000000"),
        other_realized=D("0"),
        unrealized=D("-0.00000001"),
        fees=D("0"),
        funding=D("0"),
        total=D("-0.009977512462612164"),
        round_trips=1,
        fill_count=2,
    )

    row = payload(PnlOut, BotPnl(bot_id=1, symbol="ETH", mark_price=D("3990"), summary=summary))

    assert row["total"] == "-0.009978"
    assert row["grid_profit"] == "0.1"
    assert row["unrealized"] == "0"
    assert row["avg_entry_price"] == "3990.123457"
    assert row["position_base"] == "0.01"


@pytest.mark.django_db
def test_a_bot_row_carries_its_market_decimals_units_and_centre_price() -> None:
    bot = make_bot(make_account(), make_market(), step=D("10"))
    bot.anchor_price, bot.centre_index = D("4000"), 2

    row = payload(GridBotOut, bot)

    assert (row["price_decimals"], row["size_decimals"]) == (2, 4)
    assert (row["base_unit"], row["quote_unit"]) == ("ETH", "USDC")
    assert row["centre_price"] == "4020"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(D("-0.004"), "0.00 USDC"), (D("-0.006"), "-0.01 USDC"), (D("12.345"), "12.34 USDC")],
)
def test_quote_rounds_half_even_to_cents_and_never_shows_minus_zero(value, expected) -> None:
    assert figures.quote(value, unit=True) == expected


def test_base_unit_is_the_symbols_first_part() -> None:
    class Market:
        symbol = "1000PEPE-PERP"

    assert figures.base_unit(Market()) == "1000PEPE"
