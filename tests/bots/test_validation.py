"""Every GridBot / ExchangeAccount validation rule, table-driven, through full_clean()."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from bots.forms import ExchangeAccountAdminForm
from bots.models import GridBot
from tests.lighterweb.factories import bot_fields, make_account, make_market

pytestmark = pytest.mark.django_db

D = Decimal

# (case id, field overrides, market overrides, field expected to carry the error)
INVALID_BOTS = [
    ("step zero", {"step": D("0")}, {}, "step"),
    ("step negative", {"step": D("-1")}, {}, "step"),
    ("levels zero", {"levels_per_side": 0, "max_open_orders": 10}, {}, "levels_per_side"),
    ("levels 51", {"levels_per_side": 51, "max_open_orders": 200}, {}, "levels_per_side"),
    ("max open orders below 2x levels", {"max_open_orders": 9}, {}, "max_open_orders"),
    ("size below min base", {"size": D("0.004")}, {}, "size"),
    (
        "base size below min quote at last price",
        {"size": D("0.005")},
        {"last_price": D("1000")},
        "size",
    ),
    ("quote size below min quote", {"size_mode": "quote", "size": D("9.99")}, {}, "size"),
    (
        "quote size below min base at last price",
        {"size_mode": "quote", "size": D("15")},
        {"last_price": D("4000")},
        "size",
    ),
    ("size zero", {"size": D("0")}, {}, "size"),
    ("leverage above market max", {"leverage": D("51")}, {}, "leverage"),
    ("leverage below one", {"leverage": D("0.5")}, {}, "leverage"),
    ("max position notional zero", {"max_position_notional": D("0")}, {}, "max_position_notional"),
    ("stop loss negative", {"stop_loss_price": D("-1")}, {}, "stop_loss_price"),
    ("take profit zero", {"take_profit_price": D("0")}, {}, "take_profit_price"),
    (
        "arithmetic levels reaching zero (step 1000 x 5 levels around 3000)",
        {"step": D("1000"), "levels_per_side": 5},
        {"last_price": D("3000")},
        "step",
    ),
    (
        "take profit not above stop loss",
        {"stop_loss_price": D("3000"), "take_profit_price": D("3000")},
        {},
        "take_profit_price",
    ),
]

VALID_BOTS = [
    ("defaults", {}, {}),
    ("levels 1", {"levels_per_side": 1, "max_open_orders": 2}, {}),
    ("levels 50", {"levels_per_side": 50, "max_open_orders": 100}, {}),
    ("size exactly min base and enough quote", {"size": D("0.005")}, {"last_price": D("2000")}),
    (
        "quote size exactly min quote",
        {"size_mode": "quote", "size": D("20")},
        {"last_price": D("4000")},
    ),
    ("leverage at market max", {"leverage": D("50")}, {}),
    ("no last price checks own unit only", {"size": D("0.005")}, {"last_price": None}),
    ("geometric percent step", {"spacing_mode": "geometric", "step": D("0.5")}, {}),
    (
        "arithmetic lowest buy just above zero",
        {"step": D("599"), "levels_per_side": 5},
        {"last_price": D("3000")},
    ),
    (
        "geometric never reaches zero",
        {"spacing_mode": "geometric", "step": D("30"), "levels_per_side": 5},
        {"last_price": D("3000")},
    ),
    ("exits in order", {"stop_loss_price": D("3000"), "take_profit_price": D("5000")}, {}),
]


@pytest.mark.parametrize(
    ("overrides", "market_overrides", "field"),
    [case[1:] for case in INVALID_BOTS],
    ids=[case[0] for case in INVALID_BOTS],
)
def test_invalid_grid_bot_reports_error_on_the_field(overrides, market_overrides, field):
    bot = GridBot(**bot_fields(make_account(), make_market(**market_overrides), **overrides))

    with pytest.raises(ValidationError) as caught:
        bot.full_clean()

    assert field in caught.value.message_dict


@pytest.mark.parametrize(
    ("overrides", "market_overrides"),
    [case[1:] for case in VALID_BOTS],
    ids=[case[0] for case in VALID_BOTS],
)
def test_valid_grid_bot_passes_full_clean(overrides, market_overrides):
    bot = GridBot(**bot_fields(make_account(), make_market(**market_overrides), **overrides))

    bot.full_clean()


def test_market_of_another_network_is_a_market_error():
    bot = GridBot(**bot_fields(make_account(network="paper"), make_market(network="mainnet")))

    with pytest.raises(ValidationError) as caught:
        bot.full_clean()

    assert "market" in caught.value.message_dict


def test_second_active_grid_on_same_account_and_market_fails_validation():
    account, market = make_account(), make_market()
    GridBot.objects.create(**bot_fields(account, market), desired_state="running")
    bot = GridBot(**bot_fields(account, market))
    bot.desired_state = "paused"

    with pytest.raises(ValidationError) as caught:
        bot.full_clean()

    assert "A bot is already active on this account and market." in caught.value.messages


GOOD_API_KEY = "0x" + "ab" * 40
GOOD_ETH_KEY = "cd" * 32

KEY_CASES = [
    ("api key with 0x", "api_private_key", GOOD_API_KEY, True),
    ("api key without 0x", "api_private_key", GOOD_API_KEY[2:], True),
    ("api key too short", "api_private_key", GOOD_API_KEY[:-2], False),
    ("api key too long", "api_private_key", GOOD_API_KEY + "00", False),
    ("api key not hex", "api_private_key", "0x" + "zz" * 40, False),
    ("api key is an eth key", "api_private_key", GOOD_ETH_KEY, False),
    ("eth key without 0x", "eth_private_key", GOOD_ETH_KEY, True),
    ("eth key with 0x", "eth_private_key", "0X" + GOOD_ETH_KEY, True),
    ("eth key too short", "eth_private_key", GOOD_ETH_KEY[:-1], False),
    ("eth key not hex", "eth_private_key", "g" * 64, False),
]


@pytest.mark.parametrize(
    ("field", "value", "valid"), [c[1:] for c in KEY_CASES], ids=[c[0] for c in KEY_CASES]
)
def test_private_key_inputs_accept_only_hex_of_the_right_length(field, value, valid):
    form = ExchangeAccountAdminForm(
        data={"name": "a", "network": "paper", "tier": "standard", field: value}
    )

    assert form.is_valid() is valid
    if not valid:
        assert field in form.errors
        assert value not in str(form.errors)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"l1_address": "0x1234"}, "l1_address"),
        ({"api_key_index": "255"}, "api_key_index"),
    ],
    ids=["short l1 address", "api key index above 254"],
)
def test_account_identity_fields_are_validated(data, field):
    form = ExchangeAccountAdminForm(
        data={"name": "a", "network": "paper", "tier": "standard", **data}
    )

    assert not form.is_valid()
    assert field in form.errors


def test_a_quote_mode_size_below_the_base_minimum_is_explained_in_quote_units() -> None:
    from bots.validators import order_size_errors

    errors = order_size_errors(
        size_mode="quote",
        size=Decimal("15"),
        min_base_amount=Decimal("0.0050000000"),
        min_quote_amount=Decimal("10.0000000000"),
        last_price=Decimal("4000.0000000000"),
    )

    assert errors == {
        "size": (
            "Each order must be worth at least 20 quote at the last price 4000 "
            "(the market minimum is 0.005 base)."
        )
    }


def test_a_level_at_or_below_zero_is_explained_in_figures_a_trader_writes():
    """The last price comes from the database at its scale (3000.0000000000): the field error
    says 3000, -2000 and 600 (issue 15: numbers people can read)."""
    from bots.validators import level_price_errors

    errors = level_price_errors(
        arithmetic=True, step=Decimal("1000"), levels=5, last_price=Decimal("3000.0000000000")
    )

    assert errors == {
        "step": "With a step of 1000 and 5 levels per side around the current price 3000, the "
        "lowest buy would sit at -2000 (<= 0). Use a step below 600 or fewer levels."
    }
