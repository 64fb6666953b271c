"""Telegram: alerts through the Bot API, and operator commands by long polling, against a local
fake of the Telegram Bot API."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.utils import timezone

from bots import services
from bots.models import Fill, GridBot, TelegramLink
from bots.notify import dispatch, poller
from tests.bots.runner_support import account_on, grid_bot
from tests.lighterweb.factories import (
    make_account,
    make_bot,
    make_hedge_bot,
    make_market,
    make_user,
)
from tests.notify.conftest import TELEGRAM_TOKEN, make_channel

pytestmark = pytest.mark.django_db(transaction=True)

CHAT_ID = 4242
OPERATOR_TG = 777
STRANGER_TG = 999


def _user(name: str, *, operator: bool):
    if operator:  # the operator role, as the site's controls ask for it
        return make_user(name, role="operator")
    return get_user_model().objects.create_user(name, password="x-long-password-1")


@pytest.fixture
def channel(notify_env, telegram_api):
    return make_channel("telegram", token=TELEGRAM_TOKEN, telegram_chat_id=str(CHAT_ID))


@pytest.fixture
def operator(channel):
    user = _user("olga", operator=True)
    TelegramLink.objects.create(user=user, telegram_user_id=OPERATOR_TG)
    return user


def _poll() -> str:
    out = io.StringIO()
    call_command("telegram_poll", "--once", stdout=out)
    return out.getvalue()


def test_an_alert_goes_to_the_chat_through_the_bot_api(channel, telegram_api):
    bot = make_bot(make_account(), make_market())

    services.event_record(bot, "error", "signer refused the nonce", level="error")

    assert dispatch.wait_idle(20)
    [text] = telegram_api.texts_to(CHAT_ID)
    assert bot.name in text
    assert "signer refused the nonce" in text


def test_a_wrong_token_marks_the_channel_failing_without_retrying(notify_env, telegram_api):
    channel = make_channel("telegram", token="999:wrong", telegram_chat_id=str(CHAT_ID))
    bot = make_bot(make_account(), make_market())

    services.event_record(bot, "error", "boom", level="error")

    assert dispatch.wait_idle(20)
    channel.refresh_from_db()
    assert channel.consecutive_failures == 1
    assert "401" in channel.last_error
    assert "999:wrong" not in channel.last_error
    assert telegram_api.sent == []


def test_start_tells_anyone_their_ids(channel, telegram_api):
    telegram_api.message_from(STRANGER_TG, "/start", chat_id=-100)

    assert "Answered 1" in _poll()

    [text] = telegram_api.texts_to(-100)
    assert f"user id is {STRANGER_TG}" in text
    assert "chat's id is -100" in text


def test_status_bots_and_pnl_answer_a_linked_operator(operator, telegram_api):
    bot = make_bot(make_account(), make_market(), name="ETH ladder")
    telegram_api.message_from(OPERATOR_TG, "/status")
    telegram_api.message_from(OPERATOR_TG, "/bots")
    telegram_api.message_from(OPERATOR_TG, "/pnl")

    _poll()

    status, bots, pnl = telegram_api.texts_to(OPERATOR_TG)
    assert "1 stopped" in status
    assert f"#{bot.pk} ETH ladder (ETH" in bots
    assert "ETH ladder" in pnl
    assert "Total: 0.00" in pnl


def test_pnl_counts_the_hedge_bots_too(operator, telegram_api):
    """Before, /pnl listed the grids only: a trader running a hedge bot saw neither it nor its
    PnL in the total."""
    market = make_market()
    maker, taker = make_account(), make_account(name="taker")
    hedge = make_hedge_bot(maker, taker, market, name="ETH pair")
    now = timezone.now()
    for trade_id, account, side, price in ((1, maker, "buy", "4000"), (2, taker, "sell", "4010")):
        Fill.objects.create(
            bot=hedge, account=account, market=market, trade_id=trade_id, side=side,
            price=Decimal(price), size_base=Decimal("0.01"), fee=Decimal("0"), is_maker=True,
            executed_at=now,
        )  # fmt: skip
    telegram_api.message_from(OPERATOR_TG, "/pnl")

    _poll()

    [pnl] = telegram_api.texts_to(OPERATOR_TG)
    assert f"#{hedge.pk} ETH pair (hedge ETH): 0.10 (realized 0.10" in pnl
    assert "Total: 0.10" in pnl


def test_the_poller_resumes_after_the_last_answered_update(operator, telegram_api):
    telegram_api.message_from(OPERATOR_TG, "/status")
    _poll()

    _poll()

    assert len(telegram_api.texts_to(OPERATOR_TG)) == 1
    assert telegram_api.offsets_asked[-1] == telegram_api.updates[-1]["update_id"] + 1


def test_commands_from_an_unlinked_telegram_user_are_refused(channel, telegram_api):
    bot = make_bot(make_account(), make_market())
    GridBot.objects.filter(pk=bot.pk).update(desired_state="running", status="running")
    telegram_api.message_from(STRANGER_TG, f"/pause {bot.pk}")

    _poll()

    [text] = telegram_api.texts_to(STRANGER_TG)
    assert "not linked" in text
    assert GridBot.objects.get(pk=bot.pk).desired_state == "running"


def _no_rights(name: str):
    return _user(name, operator=False)


def _editor_without_controls(name: str):
    user = make_user(name)  # staff
    user.user_permissions.add(Permission.objects.get(codename="change_gridbot"))
    return user


def _operator_no_longer_staff(name: str):
    return make_user(name, role="operator", staff=False)


@pytest.mark.parametrize("who", [_no_rights, _editor_without_controls, _operator_no_longer_staff])
def test_a_linked_user_without_operator_rights_is_refused(channel, telegram_api, who):
    # Telegram asks what the site's controls ask: a staff user with `bots.control_bot`. It used
    # to ask for `change_gridbot` and not staff: an editor without the controls, or an operator
    # whose staff status was taken away (who can no longer log in), could still stop bots.
    TelegramLink.objects.create(user=who("viv"), telegram_user_id=STRANGER_TG)
    bot = make_bot(make_account(), make_market())
    GridBot.objects.filter(pk=bot.pk).update(desired_state="running", status="running")
    telegram_api.message_from(STRANGER_TG, f"/stop {bot.pk}")

    _poll()

    assert "not linked to a LighterWeb operator" in telegram_api.texts_to(STRANGER_TG)[0]
    assert GridBot.objects.get(pk=bot.pk).desired_state == "running"


def test_pause_by_name_pauses_the_bot_as_the_operator(operator, telegram_api):
    bot = make_bot(make_account(), make_market(), name="SOL scalper")
    GridBot.objects.filter(pk=bot.pk).update(desired_state="running", status="running")
    telegram_api.message_from(OPERATOR_TG, "/pause sol scalper")

    _poll()

    assert "Pause requested" in telegram_api.texts_to(OPERATOR_TG)[0]
    assert GridBot.objects.get(pk=bot.pk).desired_state == "paused"
    assert bot.events.filter(kind="pause", message__contains="telegram:olga").exists()


def test_stop_cancels_the_bot_orders_on_the_exchange(
    operator, telegram_api, simulator, funded_account
):
    bot = grid_bot(account_on(simulator, funded_account), "ETH")
    GridBot.objects.filter(pk=bot.pk).update(status="running", lease_fence=0)
    telegram_api.message_from(OPERATOR_TG, f"/stop {bot.pk}")

    _poll()

    assert "Stop requested" in telegram_api.texts_to(OPERATOR_TG)[0]
    bot.refresh_from_db()
    assert (bot.desired_state, bot.status) == ("stopped", "stopped")


@pytest.fixture
def running_bot(simulator, funded_account):
    bot = grid_bot(account_on(simulator, funded_account), "ETH")
    GridBot.objects.filter(pk=bot.pk).update(status="running", lease_fence=0)
    return bot


def _emergency_code(telegram_api) -> str:
    telegram_api.message_from(OPERATOR_TG, "/emergency")
    _poll()
    return re.search(r"/confirm (\d{4})", telegram_api.texts_to(OPERATOR_TG)[-1])[1]


def test_emergency_asks_to_confirm_and_then_stops_everything(operator, telegram_api, running_bot):
    code = _emergency_code(telegram_api)
    assert GridBot.objects.get(pk=running_bot.pk).desired_state == "running"
    telegram_api.message_from(OPERATOR_TG, f"/confirm {code}")

    _poll()

    done = telegram_api.texts_to(OPERATOR_TG)[-1]
    assert "Emergency stop: 1 bots stopped; order cancels verified" in done
    assert GridBot.objects.get(pk=running_bot.pk).desired_state == "stopped"
    events = running_bot.events.filter(kind="emergency_stop", message__contains="telegram:olga")
    assert events.exists()


def test_a_wrong_confirmation_code_voids_the_emergency_request(operator, telegram_api, running_bot):
    code = _emergency_code(telegram_api)
    telegram_api.message_from(OPERATOR_TG, "/confirm 0000" if code != "0000" else "/confirm 1111")
    telegram_api.message_from(OPERATOR_TG, f"/confirm {code}")

    _poll()

    wrong, late = telegram_api.texts_to(OPERATOR_TG)[-2:]
    assert "wrong code" in wrong
    assert "wrong code" in late
    assert GridBot.objects.get(pk=running_bot.pk).desired_state == "running"


def test_without_a_telegram_channel_nothing_is_polled(notify_env, telegram_api):
    assert poller.command_tokens() == []
    assert "Answered 0" in _poll()
    assert telegram_api.offsets_asked == []


def test_a_huge_bot_id_is_answered_not_crashed_on(operator, telegram_api):
    telegram_api.message_from(OPERATOR_TG, "/pause 99999999999999999999999999")

    _poll()

    assert "No single bot" in telegram_api.texts_to(OPERATOR_TG)[0]


def test_hedge_bots_are_listed_counted_and_stopped_like_grids(operator, telegram_api):
    # /bots ("every bot with its status") listed the grids only, /emergency's "this stops all N
    # active bots" left the hedge bots out of N (it stops them), and /pause and /stop could not
    # find a hedge bot at all.
    from bots.models import HedgeBot
    from tests.lighterweb.factories import make_hedge_bot

    market = make_market()
    grid = make_bot(make_account(), market, name="ETH ladder")
    hedge = make_hedge_bot(
        make_account(name="maker"), make_account(name="taker", account_index=8), market,
        name="ETH pair",
    )  # fmt: skip
    for model, pk in ((GridBot, grid.pk), (HedgeBot, hedge.pk)):
        model.objects.filter(pk=pk).update(desired_state="running", status="running")
    telegram_api.message_from(OPERATOR_TG, "/bots")
    telegram_api.message_from(OPERATOR_TG, "/emergency")
    telegram_api.message_from(OPERATOR_TG, "/stop eth pair")

    _poll()

    bots, emergency, stop = telegram_api.texts_to(OPERATOR_TG)
    assert f"#{grid.pk} ETH ladder (ETH" in bots
    assert f"#{hedge.pk} ETH pair (hedge ETH, maker / taker): running" in bots
    assert "This stops all 2 active bots" in emergency
    assert f"Stop requested for #{hedge.pk} ETH pair (ETH)" in stop
    assert HedgeBot.objects.get(pk=hedge.pk).desired_state == "stopped"
    assert GridBot.objects.get(pk=grid.pk).desired_state == "running"
