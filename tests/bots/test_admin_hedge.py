"""Hedge bots in the admin: pages render, bad values get field errors, actions call services."""

import pytest
from django.urls import reverse

from bots.engine.leases import BotLease
from bots.models import BotEvent, HedgeBot
from exchange.redis_clients import redis_client
from tests.lighterweb.factories import (
    hedge_bot_fields,
    make_account,
    make_bot,
    make_hedge_bot,
    make_market,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def legs():
    return make_account(name="maker"), make_account(name="taker", account_index=8), make_market()


def _post(maker, taker, market, **overrides):
    data = {
        key: (value.pk if hasattr(value, "pk") else value)
        for key, value in hedge_bot_fields(maker, taker, market).items()
    }
    defaults = {"price_mode": "level", "book_level": 1, "offset_bps": "0",
                "order_timeout_ms": 30000, "cooldown_min_ms": 0, "max_slippage_bps": "50",
                "hedge_max_attempts": 5, "hedge_timeout_ms": 10000, "repair_attempts": 3,
                "leverage_a": "1", "margin_mode_a": "cross", "leverage_b": "1",
                "margin_mode_b": "cross"}  # fmt: skip
    return {**defaults, **data, **overrides}


def test_hedge_bot_pages_render(admin_client, legs):
    bot = make_hedge_bot(*legs)

    listing = admin_client.get(reverse("admin:bots_hedgebot_changelist"))
    change = admin_client.get(reverse("admin:bots_hedgebot_change", args=[bot.pk]))
    add = admin_client.get(reverse("admin:bots_hedgebot_add"))

    assert listing.status_code == change.status_code == add.status_code == 200
    assert bot.name in listing.text


def test_add_hedge_bot_with_good_values_saves_it_stopped(admin_client, legs):
    response = admin_client.post(reverse("admin:bots_hedgebot_add"), _post(*legs))

    assert response.status_code == 302, response.context["adminform"].form.errors
    bot = HedgeBot.objects.get()
    assert (bot.desired_state, bot.status) == ("stopped", "stopped")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"size": "0.001"}, "size"),
        ({"leverage_b": "80"}, "leverage_b"),
        ({"hold_min_ms": "5000", "hold_max_ms": "10"}, "hold_max_ms"),
    ],
)
def test_add_hedge_bot_with_bad_value_shows_field_error(admin_client, legs, overrides, field):
    response = admin_client.post(reverse("admin:bots_hedgebot_add"), _post(*legs, **overrides))

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not HedgeBot.objects.exists()


def test_same_account_on_both_legs_is_a_taker_account_error(admin_client, legs):
    maker, _, market = legs

    response = admin_client.post(reverse("admin:bots_hedgebot_add"), _post(maker, maker, market))

    assert "taker_account" in response.context["adminform"].form.errors


def test_start_action_sets_the_hedge_bot_running(admin_client, legs):
    bot = make_hedge_bot(*legs)

    admin_client.post(
        reverse("admin:bots_hedgebot_changelist"),
        {"action": "start", "_selected_action": [bot.pk]},
        follow=True,
    )

    bot.refresh_from_db()
    assert bot.desired_state == "running"


def test_start_action_refused_on_a_taker_account_in_use_says_why(admin_client, legs):
    maker, taker, market = legs
    make_bot(taker, market, name="grid-on-b", desired_state="running")
    bot = make_hedge_bot(maker, taker, market)

    response = admin_client.post(
        reverse("admin:bots_hedgebot_changelist"),
        {"action": "start", "_selected_action": [bot.pk]},
        follow=True,
    )

    assert "taker_account: another grid is already active" in response.text
    bot.refresh_from_db()
    assert bot.desired_state == "stopped"


def test_stop_close_action_asks_for_confirmation_first(admin_client, legs, settings, redis_url):
    settings.REDIS_URL = redis_url
    bot = make_hedge_bot(*legs)
    HedgeBot.objects.filter(pk=bot.pk).update(desired_state="running", status="running")
    url = reverse("admin:bots_hedgebot_changelist")

    page = admin_client.post(url, {"action": "stop_close", "_selected_action": [bot.pk]})

    assert "Stop and close both legs?" in page.content.decode()
    bot.refresh_from_db()
    assert bot.desired_state == "running"  # nothing happened yet
    lease = BotLease(redis_client(redis_url), bot.pk)  # a live runner holds the lease
    assert lease.acquire() is not None
    try:
        admin_client.post(
            url,
            {"action": "stop_close", "_selected_action": [bot.pk], "confirm": "close"},
            follow=True,
        )
    finally:
        lease.release()
    bot.refresh_from_db()
    assert bot.desired_state == "stopped"
    assert BotEvent.objects.filter(bot=bot, kind="stop_close").exists()


def test_the_admin_refuses_to_delete_a_running_hedge_bot(admin_client, legs):
    # As for the grid (tests/bots/test_admin.py): the admin's delete went around the refusal.
    bot = make_hedge_bot(*legs)
    HedgeBot.objects.filter(pk=bot.pk).update(desired_state="running", status="running")
    page = admin_client.post(
        reverse("admin:bots_hedgebot_delete", args=[bot.pk]), {"post": "yes"}, follow=True
    )
    assert f"Stop {bot} before deleting it" in page.text
    selected = admin_client.post(
        reverse("admin:bots_hedgebot_changelist"),
        {"action": "delete_selected", "_selected_action": [bot.pk], "post": "yes"},
        follow=True,
    )
    assert f"Stop {bot} before deleting it" in selected.text
    assert HedgeBot.objects.filter(pk=bot.pk).exists()


def test_the_admin_refuses_a_running_hedge_bots_change_but_renames_it(admin_client, legs):
    admin_client.post(reverse("admin:bots_hedgebot_add"), _post(*legs, name="pair"))
    bot = HedgeBot.objects.get()
    HedgeBot.objects.filter(pk=bot.pk).update(desired_state="running", status="running")
    url = reverse("admin:bots_hedgebot_change", args=[bot.pk])
    response = admin_client.post(url, _post(*legs, name="pair", size=str(bot.size * 2)))
    assert response.status_code == 200
    assert "Stop pair before changing its configuration (Size)." in response.text
    response = admin_client.post(url, _post(*legs, name="pair-2", size=str(bot.size)))
    assert response.status_code == 302, response.context["adminform"].form.errors
    bot.refresh_from_db()
    assert bot.name == "pair-2"


def test_a_running_hedge_bots_stop_loss_is_saved_and_its_runner_told(
    admin_client, legs, settings, redis_url, django_capture_on_commit_callbacks
):
    # Refused before ("Stop pair before changing its configuration (Stop loss quote)"): a pair
    # losing money could only be protected by stopping it first.
    from tests.bots.test_admin import _commands

    admin_client.post(reverse("admin:bots_hedgebot_add"), _post(*legs, name="pair"))
    bot = HedgeBot.objects.get()
    HedgeBot.objects.filter(pk=bot.pk).update(desired_state="running", status="running")
    settings.REDIS_URL = redis_url
    url = reverse("admin:bots_hedgebot_change", args=[bot.pk])
    with _commands(redis_url, bot) as received:
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(url, _post(*legs, name="pair", stop_loss_quote="25"))
        assert response.status_code == 302, response.context["adminform"].form.errors
        assert [c["kind"] for c in received()] == ["settings"]
    bot.refresh_from_db()
    assert bot.stop_loss_quote == 25
    event = BotEvent.objects.filter(bot=bot, kind="config_changed").get()
    assert event.data == {"stop_loss_quote": "25"}


def test_the_admin_keeps_the_identity_of_a_running_hedges_taker_account(admin_client, legs):
    # The B leg's account is the hedge bot's too (selectors.account_bots): moved while the bot
    # runs, its runner would hedge on the old account and the new one would owe the hedges.
    from tests.bots.test_admin import _account_post

    maker, taker, market = legs
    bot = make_hedge_bot(maker, taker, market)
    HedgeBot.objects.filter(pk=bot.pk).update(desired_state="running", status="running")
    response = admin_client.post(
        reverse("admin:bots_exchangeaccount_change", args=[taker.pk]),
        _account_post(taker, account_index=9),
    )
    assert response.status_code == 200
    # Named as the form labels it, not by its code name.
    assert f"Stop {bot} before changing Account index" in response.text
    taker.refresh_from_db()
    assert taker.account_index == 8
