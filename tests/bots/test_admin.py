"""Admin pages render for every model, show field errors for bad values, and run actions."""

import contextlib
import json
from decimal import Decimal

import pytest
import redis
from django.urls import reverse
from django.utils import timezone

from bots.engine.commands import command_channel
from bots.models import BotEvent, ExchangeAccount, Fill, GridBot, Order
from tests.lighterweb.factories import bot_fields, make_account, make_bot, make_market

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    account, market = make_account(), make_market()
    bot = make_bot(account, market)
    order = Order.objects.create(
        bot=bot,
        account=account,
        market=market,
        client_order_index=1,
        side="buy",
        price=Decimal("3990"),
        size_base=Decimal("0.01"),
    )
    fill = Fill.objects.create(
        account=account,
        market=market,
        order=order,
        bot=bot,
        trade_id=99,
        side="buy",
        price=Decimal("3990"),
        size_base=Decimal("0.01"),
        fee=Decimal("0"),
        is_maker=True,
        executed_at=timezone.now(),
    )
    event = BotEvent.objects.create(bot=bot, account=account, kind="note", message="hello")
    return {
        "exchangeaccount": account,
        "market": market,
        "gridbot": bot,
        "order": order,
        "fill": fill,
        "botevent": event,
    }


MODELS = ["exchangeaccount", "market", "gridbot", "order", "fill", "botevent"]
HAND_CREATED = {"exchangeaccount", "gridbot"}


@pytest.mark.parametrize("model", MODELS)
def test_changelist_renders_for_superuser(admin_client, rows, model):
    response = admin_client.get(reverse(f"admin:bots_{model}_changelist"))

    assert response.status_code == 200
    assert reverse(f"admin:bots_{model}_change", args=[rows[model].pk]) in response.text


@pytest.mark.parametrize("model", MODELS)
def test_change_page_renders_for_superuser(admin_client, rows, model):
    response = admin_client.get(reverse(f"admin:bots_{model}_change", args=[rows[model].pk]))

    assert response.status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_add_page_exists_only_for_hand_created_models(admin_client, model):
    response = admin_client.get(reverse(f"admin:bots_{model}_add"))

    # Markets come from "Sync markets"; orders, fills and events from the engine.
    assert response.status_code == (200 if model in HAND_CREATED else 403)


def test_changelist_search_and_filters_work(admin_client, rows):
    url = reverse("admin:bots_gridbot_changelist")

    response = admin_client.get(url, {"q": "ETH", "status__exact": "stopped"})

    assert response.status_code == 200
    assert rows["gridbot"].name in response.text


def _bot_post(account, market, **overrides):
    data = {
        key: (value.pk if hasattr(value, "pk") else value)
        for key, value in bot_fields(account, market).items()
    }
    data["post_only"] = "on"
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"step": "0"}, "step"),
        ({"levels_per_side": "51", "max_open_orders": "200"}, "levels_per_side"),
        ({"max_open_orders": "3"}, "max_open_orders"),
        ({"size": "0.001"}, "size"),
        ({"leverage": "80"}, "leverage"),
    ],
)
def test_add_grid_bot_with_bad_value_shows_field_error_and_saves_nothing(
    admin_client, overrides, field
):
    account, market = make_account(), make_market()

    response = admin_client.post(
        reverse("admin:bots_gridbot_add"), _bot_post(account, market, **overrides)
    )

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not GridBot.objects.exists()


def test_add_grid_bot_with_good_values_saves_it_stopped(admin_client):
    account, market = make_account(), make_market()

    response = admin_client.post(reverse("admin:bots_gridbot_add"), _bot_post(account, market))

    assert response.status_code == 302
    bot = GridBot.objects.get()
    assert (bot.desired_state, bot.status) == ("stopped", "stopped")


def test_add_account_through_admin_stores_the_key_encrypted(admin_client):
    key = "0x" + "1f" * 40

    response = admin_client.post(
        reverse("admin:bots_exchangeaccount_add"),
        {"name": "main", "network": "paper", "tier": "standard", "api_private_key": key},
    )

    assert response.status_code == 302
    account = ExchangeAccount.objects.get(name="main")
    assert account.decrypt_api_private_key() == key


def test_blank_key_on_change_keeps_the_stored_key(admin_client):
    account = make_account(name="keep")
    account.set_api_private_key("0x" + "2e" * 40)
    account.save()

    admin_client.post(
        reverse("admin:bots_exchangeaccount_change", args=[account.pk]),
        {"name": "renamed", "network": "paper", "tier": "standard", "api_private_key": ""},
    )

    account.refresh_from_db()
    assert account.name == "renamed"
    assert account.decrypt_api_private_key() == "0x" + "2e" * 40


@pytest.mark.parametrize(
    ("action", "desired_state", "kind"),
    [
        ("start", "running", "start"),
        ("emergency_stop", "stopped", "emergency_stop"),
        ("cancel_all", "stopped", "cancel_all"),
    ],
)
def test_bot_action_sets_desired_state_and_records_event(admin_client, action, desired_state, kind):
    bot = make_bot(make_account(), make_market())

    response = admin_client.post(
        reverse("admin:bots_gridbot_changelist"),
        {"action": action, "_selected_action": [bot.pk]},
        follow=True,
    )

    assert response.status_code == 200
    bot.refresh_from_db()
    assert bot.desired_state == desired_state
    assert bot.events.filter(kind=kind).exists()


def test_refused_action_is_shown_as_an_error_message(admin_client):
    bot = make_bot(make_account(), make_market())

    response = admin_client.post(
        reverse("admin:bots_gridbot_changelist"),
        {"action": "pause", "_selected_action": [bot.pk]},
        follow=True,
    )

    assert "is not running" in response.text
    bot.refresh_from_db()
    assert bot.desired_state == "stopped"


def test_anonymous_user_is_sent_to_login(client):
    response = client.get(reverse("admin:bots_gridbot_changelist"))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_public_bind_shows_the_warning_banner(admin_client, settings):
    settings.EXPOSED_PUBLICLY = True
    settings.BIND = "0.0.0.0"

    response = admin_client.get(reverse("admin:index"))

    assert "every network interface" in response.text


def test_loopback_bind_shows_no_banner(admin_client, settings):
    settings.EXPOSED_PUBLICLY = False

    response = admin_client.get(reverse("admin:index"))

    assert "every network interface" not in response.text


def test_bot_change_page_lists_recent_events_escaped(admin_client):
    bot = make_bot(make_account(), make_market())
    BotEvent.objects.create(bot=bot, kind="note", message="<b>level 3 rejected</b>")

    response = admin_client.get(reverse("admin:bots_gridbot_change", args=[bot.pk]))

    assert "&lt;b&gt;level 3 rejected&lt;/b&gt;" in response.text
    assert "<b>level 3 rejected</b>" not in response.text


def _running(bot):
    GridBot.objects.filter(pk=bot.pk).update(desired_state="running", status="running")
    bot.refresh_from_db()
    return bot


def test_the_admin_refuses_to_delete_a_running_bot_and_deletes_a_stopped_one(admin_client):
    # The admin's own delete bypassed services.bot_delete: a running bot's row went, its runner
    # lost its fenced writes and stopped, and its orders stayed on the exchange with no bot
    # (the API refused the same delete). Both ways in (the page, the changelist's action)
    # refuse while the bot is not stopped, and name it.
    account, market = make_account(), make_market()
    running = _running(make_bot(account, market, name="eth-live"))
    stopped = make_bot(account, market, name="eth-old")

    page = admin_client.post(
        reverse("admin:bots_gridbot_delete", args=[running.pk]), {"post": "yes"}, follow=True
    )
    assert "Stop eth-live before deleting it" in page.text
    selected = admin_client.post(
        reverse("admin:bots_gridbot_changelist"),
        {"action": "delete_selected", "_selected_action": [running.pk, stopped.pk], "post": "yes"},
        follow=True,
    )
    assert "Stop eth-live before deleting it" in selected.text
    assert GridBot.objects.filter(pk=running.pk).exists()
    assert GridBot.objects.filter(pk=stopped.pk).exists()  # nothing of a refused selection goes

    admin_client.post(reverse("admin:bots_gridbot_delete", args=[stopped.pk]), {"post": "yes"})
    assert not GridBot.objects.filter(pk=stopped.pk).exists()
    # A selection of stopped bots goes through Django's confirmation, then is deleted.
    other = make_bot(account, market, name="eth-spare")
    action = {"action": "delete_selected", "_selected_action": [other.pk]}
    confirm = admin_client.post(reverse("admin:bots_gridbot_changelist"), action)
    assert "Are you sure" in confirm.text
    admin_client.post(reverse("admin:bots_gridbot_changelist"), action | {"post": "yes"})
    assert not GridBot.objects.filter(pk=other.pk).exists()


def _change_post(bot, **overrides):
    data = {
        key: (value.pk if hasattr(value, "pk") else value)
        for key, value in bot_fields(bot.account, bot.market).items()
    }
    data |= {f.name: getattr(bot, f.name) for f in GridBot._meta.concrete_fields if f.editable
             and f.name in data and f.name not in ("account", "market")}  # fmt: skip
    data["post_only"] = "on" if bot.post_only else ""
    data.update(overrides)
    return {key: ("" if value is None else value) for key, value in data.items()}


def test_the_admin_refuses_a_running_bots_grid_change_and_names_the_fields(
    admin_client, settings, redis_url, django_capture_on_commit_callbacks
):
    # The admin saved any edit of a running bot (the API refused it): the page then showed a
    # grid the runner was not trading, and the next restart changed it under open orders.
    bot = _running(make_bot(make_account(), make_market(), name="eth-live"))
    old_step = bot.step
    response = admin_client.post(
        reverse("admin:bots_gridbot_change", args=[bot.pk]),
        _change_post(bot, step=str(old_step * 2), levels_per_side="3"),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert any(
        "Stop eth-live before changing its grid (Levels per side, Step)." in e for e in errors
    )
    bot.refresh_from_db()
    assert bot.step == old_step

    # What may change while it runs (its name, the stop-loss and take-profit) still does.
    # The runner is told at the commit (its command channel), and an event names the change.
    settings.REDIS_URL = redis_url
    with _commands(redis_url, bot) as received:
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(
                reverse("admin:bots_gridbot_change", args=[bot.pk]),
                _change_post(bot, name="eth-renamed", stop_loss_price="2000"),
            )
        assert response.status_code == 302, response.context["adminform"].form.errors
        assert [c["kind"] for c in received()] == ["settings"]
    bot.refresh_from_db()
    assert (bot.name, bot.stop_loss_price) == ("eth-renamed", Decimal("2000"))
    event = BotEvent.objects.filter(bot=bot, kind="config_changed").get()
    assert event.data == {"name": "eth-renamed", "stop_loss_price": "2000"}
    assert event.message == "changed by admin"


@contextlib.contextmanager
def _commands(redis_url, bot):
    """The commands published on `bot`'s channel while the block runs (real Redis)."""
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    pubsub.subscribe(command_channel(redis_url, bot.pk))
    pubsub.get_message(timeout=1.0)  # the subscription's confirmation

    def received() -> list[dict]:
        found = []
        while (message := pubsub.get_message(timeout=0.5)) is not None:
            found.append(json.loads(message["data"]))
        return found

    try:
        yield received
    finally:
        pubsub.close()
        client.close()


def test_the_admin_never_moves_a_bot_to_another_account_or_market(admin_client):
    # A bot's records (orders, fills, the position it owns) are of its account and market:
    # moved, they would belong to nothing the bot trades. Shown read-only once it exists.
    account, market = make_account(), make_market()
    bot = make_bot(account, market)
    other_market = make_market(symbol="BTC", market_id=1)
    other_account = make_account(name="other", account_index=9)
    response = admin_client.post(
        reverse("admin:bots_gridbot_change", args=[bot.pk]),
        _change_post(bot) | {"account": other_account.pk, "market": other_market.pk},
    )
    assert response.status_code == 302
    bot.refresh_from_db()
    assert (bot.account_id, bot.market_id) == (account.pk, market.pk)


def test_the_dead_mans_switch_changed_in_the_admin_reaches_the_accounts_running_bots(
    admin_client, redis_url, settings, django_capture_on_commit_callbacks
):
    # The runners armed the switch as the account was when they started: turned on or off
    # in this form, it changed nothing until they restarted. They are told at the commit.
    settings.REDIS_URL = redis_url
    account, market = make_account(name="main"), make_market()
    bot = _running(make_bot(account, market, name="eth-live"))
    url = reverse("admin:bots_exchangeaccount_change", args=[account.pk])
    with _commands(redis_url, bot) as received:
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(url, _account_post(account, dead_mans_switch="true"))
        assert response.status_code == 302, response.context["adminform"].form.errors
        assert [c["kind"] for c in received()] == ["settings"]
        account.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(url, _account_post(account, name="main-2"))
        assert response.status_code == 302
        assert received() == [], "a rename changes nothing the runners apply"
    account.refresh_from_db()
    assert account.dead_mans_switch is True


def _account_post(account, **overrides):
    data = {
        "name": account.name,
        "network": account.network,
        "tier": account.tier,
        "l1_address": account.l1_address,
        "account_index": account.account_index,
        "api_key_index": account.api_key_index,
        "key_mode": account.key_mode,
        "api_private_key": "",
        "dead_mans_switch": {None: "unknown", True: "true", False: "false"}[
            account.dead_mans_switch
        ],
    }
    data.update(overrides)
    return {key: ("" if value is None else value) for key, value in data.items()}


def test_the_admin_refuses_to_move_an_account_its_bots_trade_on(admin_client):
    # The admin moved an account to another account index (or key index, address, network)
    # while its bots ran: the runners kept trading the old one, their next start reconciled the
    # new one, and the orders resting on the old one were left behind with no bot.
    account, market = make_account(name="main"), make_market()
    _running(make_bot(account, market, name="eth-live"))
    url = reverse("admin:bots_exchangeaccount_change", args=[account.pk])
    for change in ({"account_index": 8}, {"api_key_index": 4}):
        response = admin_client.post(url, _account_post(account, **change))
        assert response.status_code == 200
        text = " ".join(response.context["adminform"].form.non_field_errors())
        assert "Stop eth-live before changing" in text, text
    account.refresh_from_db()
    assert (account.account_index, account.api_key_index) == (7, 3)
    # A rename changes nothing the runners trade: saved.
    response = admin_client.post(url, _account_post(account, name="main-renamed"))
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.name == "main-renamed"


def test_the_admin_refuses_to_move_an_account_with_bots_to_another_network(admin_client):
    # Its bots' markets are the old network's: started again, they would trade another market.
    account, market = make_account(name="main"), make_market()
    make_bot(account, market, name="eth-old")  # stopped
    response = admin_client.post(
        reverse("admin:bots_exchangeaccount_change", args=[account.pk]),
        _account_post(account, network="testnet"),
    )
    assert response.status_code == 200
    assert "eth-old" in str(response.context["adminform"].form.errors["network"])
    account.refresh_from_db()
    assert account.network == "paper"
