"""Bot lifecycle services: desired state, events, refusals, the one-active-grid rule."""

import pytest

from bots import services
from bots.models import BotEvent, GridBot
from tests.lighterweb.factories import make_account, make_bot, make_market

pytestmark = pytest.mark.django_db


@pytest.fixture
def bot():
    return make_bot(make_account(), make_market())


def test_start_sets_desired_running_and_records_who_asked(bot):
    services.bot_start(bot, actor="alice")

    bot.refresh_from_db()
    assert bot.desired_state == "running"
    assert bot.started_at is not None
    event = BotEvent.objects.get(bot=bot, kind="start")
    assert "alice" in event.message
    assert event.account_id == bot.account_id


def test_start_shows_starting_until_the_runner_reports(bot):
    services.bot_start(bot, actor="alice")

    bot.refresh_from_db()
    assert bot.status == "starting"


def test_pause_then_start_resumes(bot):
    services.bot_start(bot, actor="a")
    services.bot_pause(bot, actor="a")
    assert bot.desired_state == "paused"

    services.bot_start(bot, actor="a")

    assert bot.desired_state == "running"


def test_stop_asks_the_runner_to_cancel_orders(bot):
    services.bot_start(bot, actor="a")

    services.bot_stop(bot, actor="a")

    assert bot.desired_state == "stopped"
    assert BotEvent.objects.get(bot=bot, kind="stop").data == {"cancel_orders": True}


def test_emergency_stop_works_from_any_state_and_requests_cancel_all(bot):
    services.bot_emergency_stop(bot, actor="a")

    bot.refresh_from_db()
    assert bot.desired_state == "stopped"
    assert bot.cancel_all_requested_at is not None
    assert BotEvent.objects.get(bot=bot, kind="emergency_stop").data["cancel_all"] is True


def test_cancel_all_leaves_a_running_bot_paused_and_says_so(bot):
    services.bot_start(bot, actor="a")

    services.bot_cancel_all(bot, actor="a")

    bot.refresh_from_db()
    assert bot.desired_state == "paused"
    event = bot.events.filter(kind="cancel_all").get()
    assert "paused" in event.message
    assert bot.cancel_all_requested_at is not None


@pytest.mark.parametrize(
    ("prepare", "action", "message"),
    [
        ([services.bot_start], services.bot_start, "already running"),
        ([], services.bot_pause, "not running"),
        ([], services.bot_stop, "already stopped"),
    ],
    ids=["start running", "pause stopped", "stop stopped"],
)
def test_impossible_transition_is_refused_without_event(bot, prepare, action, message):
    for step in prepare:
        step(bot, actor="a")
    events_before = BotEvent.objects.count()

    with pytest.raises(services.BotActionRefused, match=message):
        action(bot, actor="a")

    assert BotEvent.objects.count() == events_before


def test_start_is_refused_while_a_stop_is_under_way_and_taken_once_it_ended(bot):
    # A Start while the runner still cancelled (status stopping) found its lease held: the bot
    # stayed stopped, meant to run, until the supervisor restarted it as a crash a minute later.
    services.bot_start(bot, actor="a")
    services.bot_stop(bot, actor="a")
    GridBot.objects.filter(pk=bot.pk).update(status="stopping")
    bot.refresh_from_db()
    with pytest.raises(services.BotActionRefused, match="is still stopping"):
        services.bot_start(bot, actor="a")
    assert GridBot.objects.get(pk=bot.pk).desired_state == "stopped"

    GridBot.objects.filter(pk=bot.pk).update(status="stopped")
    bot.refresh_from_db()
    assert services.bot_start(bot, actor="a").desired_state == "running"


def test_start_refuses_a_second_active_grid_on_the_same_account_and_market(bot):
    twin = GridBot.objects.create(
        **{
            f.name: getattr(bot, f.name)
            for f in GridBot._meta.concrete_fields
            if f.name not in {"id", "bot_ptr", "name", "desired_state", "created_at", "updated_at"}
        },
        name="twin",
    )
    services.bot_start(bot, actor="a")

    with pytest.raises(services.BotActionRefused, match="another grid is already active"):
        services.bot_start(twin, actor="a")

    twin.refresh_from_db()
    assert twin.desired_state == "stopped"


def test_start_refuses_a_configuration_that_no_longer_validates(bot):
    bot.market.min_base_amount = bot.size * 10
    bot.market.save()
    bot.refresh_from_db()

    with pytest.raises(services.BotActionRefused, match="fix its configuration"):
        services.bot_start(bot, actor="a")
