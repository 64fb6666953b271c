"""Which bot controls apply in which state, and what their confirmations say."""

import pytest

from bots.dashboard.actions import action_applies, bot_actions
from tests.lighterweb.factories import make_account, make_bot, make_market

ALL = ["start", "pause", "stop", "emergency-stop", "cancel-all"]

# (desired_state, status, open orders) -> the actions that apply
CASES = [
    ("stopped", "stopped", 0, {"start", "emergency-stop"}),
    ("stopped", "stopped", 2, {"start", "emergency-stop", "cancel-all"}),
    ("running", "starting", 0, {"pause", "stop", "emergency-stop", "cancel-all"}),
    ("running", "running", 6, {"pause", "stop", "emergency-stop", "cancel-all"}),
    ("paused", "paused", 6, {"start", "stop", "emergency-stop", "cancel-all"}),
    ("stopped", "stopping", 3, {"stop", "emergency-stop", "cancel-all"}),
    ("running", "error", 0, {"start", "pause", "stop", "emergency-stop", "cancel-all"}),
    ("stopped", "error", 0, {"start", "emergency-stop"}),
]


@pytest.mark.parametrize(("desired", "status", "orders", "expected"), CASES)
def test_actions_apply_only_where_they_do_something(desired, status, orders, expected) -> None:
    applies = {
        action
        for action in ALL
        if action_applies(action, desired_state=desired, status=status, open_orders=orders)
    }
    assert applies == expected


@pytest.mark.django_db
def test_confirmations_count_the_orders_and_say_what_happens_to_the_bot() -> None:
    bot = make_bot(make_account(name="main"), make_market())
    bot.desired_state = bot.status = "running"

    confirm = {action.slug: action.confirm for action in bot_actions(bot, open_orders=3)}

    assert "cancels its 3 open orders" in confirm["stop"]
    assert "position is kept" in confirm["stop"]
    assert "EVERY order of account main on ETH" in confirm["emergency-stop"]
    assert "without waiting for its runner" in confirm["emergency-stop"]
    assert "Cancel the 3 open orders" in confirm["cancel-all"]
    assert "left paused" in confirm["cancel-all"]
    assert "stay on the book" in confirm["pause"]
