"""HedgeBot rows: field errors naming the field, the core's config, and the one-active-bot rule
across kinds (a grid and either leg of a hedge bot never share an account and market)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from bots import selectors, services
from bots.models import Bot, GridBot, HedgeBot
from bots.strategies.hedge import Direction
from bots.strategies.protocol import Leg
from tests.lighterweb.factories import (
    hedge_bot_fields,
    make_account,
    make_bot,
    make_hedge_bot,
    make_market,
)

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def maker():
    return make_account(name="maker")


@pytest.fixture
def taker():
    return make_account(name="taker", account_index=8)


@pytest.fixture
def market():
    return make_market()


def test_a_hedge_bot_is_a_bot_with_the_same_id(maker, taker, market):
    hedge = make_hedge_bot(maker, taker, market)

    assert Bot.objects.get(pk=hedge.pk).kind == "hedge"
    assert hedge.kind == "hedge"
    assert not GridBot.objects.filter(pk=hedge.pk).exists()


def test_hedge_config_carries_both_legs_and_the_market_steps(maker, taker, market):
    config = make_hedge_bot(maker, taker, market, hold_max_ms=5_000).hedge_config()

    assert (config.leg_a, config.leg_b) == (Leg(maker.pk, market.pk), Leg(taker.pk, market.pk))
    assert config.direction is Direction.LONG
    assert (config.size_base, config.tick_size, config.lot_size) == (
        D("0.01"),
        D("0.01"),
        D("0.0001"),
    )
    assert config.hold_ms == (1_000, 5_000)
    # Empty tolerance: the smallest that can be traded away (min size - one lot).
    assert config.imbalance_tolerance_base == D("0.0049")


def test_a_quote_size_is_converted_at_the_last_price_down_to_the_lot(maker, taker, market):
    bot = make_hedge_bot(maker, taker, market, size_mode="quote", size=D("50"))

    assert bot.hedge_config().size_base == D("0.0125")


# (case id, field overrides, field expected to carry the error)
INVALID_HEDGES = [
    ("size below min base", {"size": D("0.004")}, "size"),
    ("quote size below min quote", {"size_mode": "quote", "size": D("9")}, "size"),
    ("size not whole lots", {"size": D("0.01005")}, "size"),
    ("leverage A above market max", {"leverage_a": D("51")}, "leverage_a"),
    ("leverage B below 1", {"leverage_b": D("0.5")}, "leverage_b"),
    ("hold range upside down", {"hold_min_ms": 5_000, "hold_max_ms": 1_000}, "hold_max_ms"),
    ("slippage 100%", {"max_slippage_bps": D("10000")}, "max_slippage_bps"),
    (
        "tolerance below tradable",
        {"imbalance_tolerance_base": D("0.001")},
        "imbalance_tolerance_base",
    ),
    ("no hedge attempts", {"hedge_max_attempts": 0}, "hedge_max_attempts"),
    ("stop loss zero", {"stop_loss_quote": D("0")}, "stop_loss_quote"),
]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [case[1:] for case in INVALID_HEDGES],
    ids=[case[0] for case in INVALID_HEDGES],
)
def test_invalid_hedge_bot_names_the_field(maker, taker, market, overrides, field):
    bot = HedgeBot(**hedge_bot_fields(maker, taker, market, **overrides))

    with pytest.raises(ValidationError) as caught:
        bot.full_clean()

    assert field in caught.value.message_dict, caught.value.message_dict


def test_the_taker_must_be_another_account(maker, market):
    bot = HedgeBot(**hedge_bot_fields(maker, maker, market))

    with pytest.raises(ValidationError) as caught:
        bot.full_clean()

    assert "differ" in caught.value.message_dict["taker_account"][0]


def test_both_accounts_must_be_on_the_same_network(maker, market):
    mainnet = make_account(name="main", network="mainnet", account_index=9)
    bot = HedgeBot(**hedge_bot_fields(maker, mainnet, market))

    with pytest.raises(ValidationError) as caught:
        bot.full_clean()

    assert "same network" in caught.value.message_dict["taker_account"][0]


def test_a_grid_and_a_hedge_maker_on_one_account_and_market_cannot_both_be_active(
    maker, taker, market
):
    make_bot(maker, market, desired_state="running")
    hedge = HedgeBot(**hedge_bot_fields(maker, taker, market))
    hedge.desired_state = "running"

    with pytest.raises(ValidationError) as caught:
        hedge.full_clean()

    assert "A bot is already active on this account and market." in caught.value.messages


def test_a_grid_cannot_start_on_a_running_hedge_bots_taker_account(maker, taker, market):
    hedge = make_hedge_bot(maker, taker, market)
    HedgeBot.objects.filter(pk=hedge.pk).update(desired_state="running")
    grid = make_bot(taker, market)

    with pytest.raises(services.BotActionRefused, match="another hedge is already active"):
        services.bot_start(grid, actor="a")

    grid.refresh_from_db()
    assert grid.desired_state == "stopped"


def test_leg_conflicts_name_the_field_of_the_leg_in_use(maker, taker, market):
    make_bot(taker, market, name="grid-on-b", desired_state="paused")
    hedge = make_hedge_bot(maker, taker, market)

    assert selectors.bot_leg_conflicts(hedge) == {
        "taker_account": "another grid is already active on this account and market (grid-on-b)"
    }


def test_stopped_bots_do_not_conflict(maker, taker, market):
    make_bot(taker, market)
    hedge = make_hedge_bot(maker, taker, market)

    assert selectors.bot_leg_conflicts(hedge) == {}


def test_a_hedge_bot_starts_through_the_common_lifecycle(maker, taker, market):
    hedge = make_hedge_bot(maker, taker, market)

    services.bot_start(hedge, actor="a")

    hedge.refresh_from_db()
    assert (hedge.desired_state, hedge.status) == ("running", "starting")


def test_a_hedge_bot_stops_through_the_common_lifecycle(maker, taker, market):
    hedge = make_hedge_bot(maker, taker, market)
    HedgeBot.objects.filter(pk=hedge.pk).update(desired_state="running", status="running")
    hedge.refresh_from_db()

    services.bot_stop(hedge, actor="a")

    hedge.refresh_from_db()
    assert hedge.desired_state == "stopped"
    assert hedge.events.filter(kind="stop").exists()


def test_account_summaries_count_a_hedge_bot_on_both_its_accounts(maker, taker, market):
    from bots.account_summaries import account_summary

    make_hedge_bot(maker, taker, market)
    make_bot(taker, market)

    assert account_summary(maker, with_budget=False).bots == 1
    assert account_summary(taker, with_budget=False).bots == 2


def test_an_operators_start_forgets_the_cores_snapshot(maker, taker, market):
    hedge = make_hedge_bot(maker, taker, market)
    HedgeBot.objects.filter(pk=hedge.pk).update(strategy_snapshot={"state": "holding"})
    hedge.refresh_from_db()

    services.bot_start(hedge, actor="a")

    hedge.refresh_from_db()
    assert hedge.strategy_snapshot == {}
