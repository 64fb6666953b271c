"""Dashboard websockets through the real ASGI stack: auth, origins, snapshot, live pushes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from bots.dashboard import broadcast
from bots.models import BotEvent, ExchangeAccount, Fill, GridBot, HedgeBot, Order
from lighterweb.asgi import application
from tests.lighterweb.factories import (
    make_account,
    make_bot,
    make_hedge_bot,
    make_market,
    role_group,
)

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT_S = 5
ORIGIN = (b"origin", b"http://localhost")
HOST = (b"host", b"localhost")


@pytest.fixture(autouse=True)
def channel_layer(redis_url: str, settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = redis_url
    layers = {
        "default": {
            "BACKEND": "lighterweb.channel_layer.PushChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": "lighterweb-test:channels"},
        }
    }
    with override_settings(CHANNEL_LAYERS=layers):
        yield


def _session_cookie(*, is_staff: bool, role: str = "viewer") -> tuple[bytes, bytes]:
    user = get_user_model().objects.create_user(
        username=f"u-{is_staff}-{role}", password="pw-long-enough-1", is_staff=is_staff
    )
    user.groups.add(role_group(role))
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


@pytest.fixture
def staff_cookie() -> tuple[bytes, bytes]:
    return _session_cookie(is_staff=True)


@pytest.fixture
def bot() -> GridBot:
    bot = make_bot(make_account(), make_market())
    GridBot.objects.filter(pk=bot.pk).update(anchor_price=Decimal("4000"), centre_index=0)
    bot.refresh_from_db()
    return bot


def _communicator(path: str, *headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, headers=[HOST, *headers])


async def _connected(path: str, cookie: tuple[bytes, bytes]) -> WebsocketCommunicator:
    communicator = _communicator(path, ORIGIN, cookie)
    connected, _ = await communicator.connect(timeout=TIMEOUT_S)
    assert connected
    return communicator


async def _next(communicator: WebsocketCommunicator, kind: str) -> Any:
    """The data of the next message of `kind` (other kinds in between are skipped)."""
    while True:
        message = await communicator.receive_json_from(timeout=TIMEOUT_S)
        if message["kind"] == kind:
            return message["data"]


async def _collect(communicator: WebsocketCommunicator, kinds: set[str]) -> dict[str, Any]:
    """The data of the next message of each of `kinds`, whatever their order."""
    seen: dict[str, Any] = {}
    while set(seen) != kinds:
        message = await communicator.receive_json_from(timeout=TIMEOUT_S)
        if message["kind"] in kinds:
            seen[message["kind"]] = message["data"]
    return seen


@pytest.mark.parametrize("path", ["/ws/dashboard/", "/ws/bots/1/", "/ws/hedge/1/"])
async def test_anonymous_user_is_refused(path):
    communicator = _communicator(path, ORIGIN)

    connected, code = await communicator.connect(timeout=TIMEOUT_S)

    assert not connected
    assert code == 4403


@pytest.mark.parametrize("path", ["/ws/dashboard/", "/ws/bots/1/", "/ws/hedge/1/"])
async def test_logged_in_non_staff_user_is_refused(path):
    cookie = await database_sync_to_async(_session_cookie)(is_staff=False)
    communicator = _communicator(path, ORIGIN, cookie)

    connected, code = await communicator.connect(timeout=TIMEOUT_S)

    assert not connected
    assert code == 4403


async def test_foreign_origin_is_refused_even_for_staff(staff_cookie):
    communicator = _communicator(
        "/ws/dashboard/", (b"origin", b"http://evil.example"), staff_cookie
    )

    connected, _ = await communicator.connect(timeout=TIMEOUT_S)

    assert not connected


async def test_unknown_bot_is_refused_with_not_found(staff_cookie):
    communicator = _communicator("/ws/bots/999999/", ORIGIN, staff_cookie)

    connected, code = await communicator.connect(timeout=TIMEOUT_S)

    assert not connected
    assert code == 4404


@pytest.fixture
def hedge() -> HedgeBot:
    maker = make_account(name="maker")
    taker = make_account(name="taker", account_index=8)
    return make_hedge_bot(maker, taker, make_market(), name="eth-hedge")


def _hedge_fill(bot: HedgeBot) -> None:
    """B's hedge (a taker sell on the second account), recorded and pushed as the runner does."""
    _record_fill(bot, account=bot.taker_account, trade_id=78, side="sell", is_maker=False)


async def test_the_hedge_page_gets_its_figures_and_the_bots_own_positions_live(staff_cookie, hedge):
    communicator = await _connected(f"/ws/hedge/{hedge.pk}/", staff_cookie)

    first = await _next(communicator, "hedge")
    assert [leg["own_text"] for leg in first["legs"]] == ["0.0000 ETH", "0.0000 ETH"]
    assert first["net_text"] is None and first["net_class"] == "lw-net-unknown"
    assert first["status"] == "stopped"

    await database_sync_to_async(_hedge_fill)(hedge)

    after = await _next(communicator, "hedge")
    assert [leg["own_text"] for leg in after["legs"]] == ["0.0000 ETH", "-0.0100 ETH"]
    assert after["own_net_text"] == "-0.0100 ETH"
    await communicator.disconnect()


@pytest.mark.parametrize("kind", ["unknown", "grid"])
async def test_a_hedge_socket_for_no_hedge_bot_is_refused_with_not_found(staff_cookie, bot, kind):
    bot_id = 999999 if kind == "unknown" else bot.pk
    communicator = _communicator(f"/ws/hedge/{bot_id}/", ORIGIN, staff_cookie)

    connected, code = await communicator.connect(timeout=TIMEOUT_S)

    assert not connected
    assert code == 4404


async def test_a_bot_page_reads_its_snapshot_again_after_joining(staff_cookie, bot):
    """A worker that found the bot's group without a member just before the page joined drops
    its pushes for a moment (`broadcast.MEMBERSHIP_TTL_S`): the page's second snapshot, read
    `broadcast.CATCH_UP_S` after it joined, has what they carried (here an order written with
    no push at all, as a dropped one)."""
    communicator = await _connected(f"/ws/bots/{bot.pk}/", staff_cookie)
    first = await _next(communicator, "snapshot")
    await database_sync_to_async(_open_order)(bot, level_index=-1, price="3990")

    second = await _next(communicator, "snapshot")

    assert [order["price"] for order in first["orders"]] == []
    assert [order["price"] for order in second["orders"]] == ["3990"]
    await communicator.disconnect()


async def test_the_overview_reads_its_snapshot_again_after_joining(staff_cookie, bot):
    communicator = await _connected("/ws/dashboard/", staff_cookie)
    first = await _next(communicator, "snapshot")
    await database_sync_to_async(GridBot.objects.filter(pk=bot.pk).update)(status="error")

    second = await _next(communicator, "snapshot")

    assert [row["status"] for row in first["bots"]] == ["stopped"]
    assert [row["status"] for row in second["bots"]] == ["error"]
    await communicator.disconnect()


async def test_overview_snapshot_lists_every_bot_and_account(staff_cookie, bot):
    communicator = await _connected("/ws/dashboard/", staff_cookie)

    snapshot = await _next(communicator, "snapshot")

    assert [row["id"] for row in snapshot["bots"]] == [bot.pk]
    assert snapshot["bots"][0]["symbol"] == "ETH"
    assert [row["account"]["id"] for row in snapshot["accounts"]] == [bot.account_id]
    await communicator.disconnect()


async def test_bot_snapshot_has_ladder_orders_fills_and_events(staff_cookie, bot):
    await database_sync_to_async(_open_order)(bot, level_index=-1, price="3990")
    communicator = await _connected(f"/ws/bots/{bot.pk}/", staff_cookie)

    snapshot = await _next(communicator, "snapshot")

    assert snapshot["bot"]["id"] == bot.pk
    assert [order["price"] for order in snapshot["orders"]] == ["3990"]
    by_level = {row["level_index"]: row for row in snapshot["ladder"]}
    assert by_level[-1]["state"] == "resting"
    assert by_level[-2]["state"] == "missing"
    assert by_level[0]["state"] == "centre"
    assert snapshot["fills"] == []
    await communicator.disconnect()


async def test_event_written_after_connect_is_pushed_live(staff_cookie, bot):
    communicator = await _connected(f"/ws/bots/{bot.pk}/", staff_cookie)
    await _next(communicator, "snapshot")

    await database_sync_to_async(_record_event)(bot, "rolled up one level")

    event = await _next(communicator, "event")
    assert event["message"] == "rolled up one level"
    assert event["bot_id"] == bot.pk
    await communicator.disconnect()


async def test_order_push_is_followed_by_the_recomputed_ladder(staff_cookie, bot):
    communicator = await _connected(f"/ws/bots/{bot.pk}/", staff_cookie)
    await _next(communicator, "snapshot")

    await database_sync_to_async(_open_order)(bot, level_index=1, price="4010", push=True)

    order = await _next(communicator, "order")
    ladder = await _next(communicator, "ladder")
    assert order["price"] == "4010"
    assert {row["level_index"]: row["state"] for row in ladder}[1] == "resting"
    await communicator.disconnect()


async def test_bot_status_change_reaches_the_overview(staff_cookie, bot):
    communicator = await _connected("/ws/dashboard/", staff_cookie)
    await _next(communicator, "snapshot")

    await database_sync_to_async(_set_status)(bot, "running")

    pushed = await _next(communicator, "bot")
    assert (pushed["id"], pushed["status"]) == (bot.pk, "running")
    await communicator.disconnect()


async def test_order_push_refreshes_the_overviews_bot_and_account_figures(staff_cookie, bot):
    communicator = await _connected("/ws/dashboard/", staff_cookie)
    await _next(communicator, "snapshot")

    await database_sync_to_async(_open_order)(bot, level_index=-1, price="3990", push=True)

    summaries = await _collect(communicator, {"bot_summary", "account_summary"})
    bot_summary, account_summary = summaries["bot_summary"], summaries["account_summary"]
    assert (bot_summary["id"], bot_summary["open_orders"]) == (bot.pk, 1)
    assert (account_summary["account"]["id"], account_summary["open_orders"]) == (
        bot.account_id,
        1,
    )
    await communicator.disconnect()


async def test_fill_push_refreshes_the_bot_pages_pnl(staff_cookie, bot):
    communicator = await _connected(f"/ws/bots/{bot.pk}/", staff_cookie)
    await _next(communicator, "snapshot")

    await database_sync_to_async(_record_fill)(bot)

    fill = await _next(communicator, "fill")
    pnl = await _next(communicator, "pnl")
    assert fill["trade_id"] == 77
    assert pnl["position_base"] == "0.01"
    await communicator.disconnect()


async def test_account_push_reaches_the_overview_with_its_refreshed_summary(staff_cookie, bot):
    communicator = await _connected("/ws/dashboard/", staff_cookie)
    await _next(communicator, "snapshot")

    await database_sync_to_async(_report_balances)(bot.account_id)

    pushed = await _collect(communicator, {"account", "account_summary"})
    assert pushed["account"]["summary"]["equity"] == "1234.5"
    assert pushed["account_summary"]["equity"] == "1234.5"
    assert pushed["account_summary"]["account"]["id"] == bot.account_id
    await communicator.disconnect()


def _report_balances(account_id: int) -> None:
    summary = {"equity": "1234.5", "available_balance": "1000", "positions": []}
    ExchangeAccount.objects.filter(pk=account_id).update(last_check_summary=summary)
    broadcast.account_changed(ExchangeAccount.objects.get(pk=account_id), summary)


def _record_fill(
    bot: GridBot | HedgeBot,
    *,
    account: ExchangeAccount | None = None,
    trade_id: int = 77,
    side: str = "buy",
    is_maker: bool = True,
) -> None:
    fill = Fill.objects.create(
        bot=bot,
        account=account or bot.account,
        market=bot.market,
        trade_id=trade_id,
        side=side,
        price=Decimal("3990"),
        size_base=Decimal("0.01"),
        is_maker=is_maker,
        executed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    broadcast.fill_recorded(fill)


def _record_event(bot: GridBot, message: str) -> None:
    event = BotEvent.objects.create(bot=bot, account=bot.account, kind="roll", message=message)
    broadcast.bot_event(event)


def _open_order(bot: GridBot, *, level_index: int, price: str, push: bool = False) -> None:
    order = Order.objects.create(
        bot=bot,
        account=bot.account,
        market=bot.market,
        client_order_index=100 + level_index,
        side="buy" if level_index < 0 else "sell",
        price=Decimal(price),
        size_base=Decimal("0.01"),
        status="open",
        level_index=level_index,
    )
    if push:
        broadcast.order_changed(order)


def _set_status(bot: GridBot, status: str) -> None:
    GridBot.objects.filter(pk=bot.pk).update(status=status)
    bot.refresh_from_db()
    broadcast.bot_changed(bot)


def _run_state_and_event_in_one_commit(bot: GridBot) -> None:
    from django.db import transaction

    with transaction.atomic():
        broadcast.bot_run_state(bot.pk, {"centre_index": 7, "last_price": Decimal("4012.5")})
        _record_event(bot, "moved to level 7")


async def test_pushes_of_one_commit_reach_the_page_one_by_one(staff_cookie, bot):
    communicator = await _connected(f"/ws/bots/{bot.pk}/", staff_cookie)
    await _next(communicator, "snapshot")

    await database_sync_to_async(_run_state_and_event_in_one_commit)(bot)

    pushed = await _next(communicator, "bot")
    event = await _next(communicator, "event")
    assert pushed == {"id": bot.pk, "centre_index": 7, "last_price": "4012.5"}
    assert event["message"] == "moved to level 7"
    await communicator.disconnect()


@pytest.mark.parametrize("path", ["/ws/dashboard/", "/ws/bots/1/", "/ws/hedge/1/"])
async def test_staff_without_a_role_is_refused(path):
    user = await database_sync_to_async(get_user_model().objects.create_user)(
        "no-role", password="pw-long-enough-1", is_staff=True
    )
    cookie = await database_sync_to_async(_cookie_of)(user)
    communicator = _communicator(path, ORIGIN, cookie)

    connected, code = await communicator.connect(timeout=TIMEOUT_S)

    assert (connected, code) == (False, 4403)


def _cookie_of(user: Any) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def _remove_role(username: str) -> None:
    get_user_model().objects.get(username=username).groups.clear()


def _destaff(username: str) -> None:
    get_user_model().objects.filter(username=username).update(is_staff=False)


def _log_out_everywhere(username: str) -> None:
    from lighterweb.sessions import sessions_end_for

    sessions_end_for(get_user_model().objects.get(username=username))


@pytest.mark.parametrize(
    "withdraw", [_remove_role, _destaff, _log_out_everywhere], ids=["role", "staff", "sessions"]
)
async def test_an_open_socket_is_closed_within_seconds_once_access_is_withdrawn(
    settings, staff_cookie, bot, withdraw
):
    settings.DASHBOARD_ACCESS_RECHECK_SECONDS = 0.2
    communicator = await _connected("/ws/dashboard/", staff_cookie)
    await _next(communicator, "snapshot")

    await database_sync_to_async(withdraw)("u-True-viewer")

    while True:  # pushes may come first; the close must follow within the timeout
        output = await communicator.receive_output(timeout=TIMEOUT_S)
        if output["type"] == "websocket.close":
            break
    assert output["code"] == 4403


IDLE_S = 12  # past channels_redis' 5 s blocking read, twice over


@pytest.mark.slow
async def test_an_idle_socket_stays_open_past_the_channel_layers_read_timeout(staff_cookie, bot):
    # With redis-py 8, channels_redis' blocking read timed out after ~5 s idle: the consumer
    # died and the server closed the socket with 1011. The socket must idle, then still push.
    communicator = await _connected(f"/ws/bots/{bot.pk}/", staff_cookie)
    await _next(communicator, "snapshot")
    await _next(communicator, "snapshot")  # read again once after joining (the catch-up)

    assert await communicator.receive_nothing(timeout=IDLE_S, interval=0.5)
    await database_sync_to_async(_record_event)(bot, "still here")

    assert (await _next(communicator, "event"))["message"] == "still here"
    await communicator.disconnect()


async def test_an_admin_session_without_its_second_factor_is_refused_when_required(settings):
    settings.REQUIRE_2FA = True
    cookie = await database_sync_to_async(_session_cookie)(is_staff=True, role="admin")
    communicator = _communicator("/ws/dashboard/", ORIGIN, cookie)

    connected, code = await communicator.connect(timeout=TIMEOUT_S)

    assert (connected, code) == (False, 4403)


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        (b"http://localhost", b"localhost", True),
        (b"http://localhost:8000", b"localhost:8000", True),
        (b"http://localhost:8001", b"localhost:8000", False),
        (b"https://localhost:8000", b"localhost:8000", False),
        (b"http://localhost", b"localhost:8000", False),
        (b"http://evil.example:8000", b"localhost:8000", False),
        (b"null", b"localhost", False),
        (b"http://localhost", b"evil.example", False),
    ],
    ids=[
        "same",
        "same with port",
        "other port",
        "other scheme",
        "default port",
        "other host",
        "null origin",
        "host not allowed",
    ],
)
async def test_the_origin_must_match_scheme_host_and_port(staff_cookie, origin, host, allowed):
    communicator = WebsocketCommunicator(
        application, "/ws/dashboard/", headers=[(b"host", host), (b"origin", origin), staff_cookie]
    )

    connected, _ = await communicator.connect(timeout=TIMEOUT_S)

    assert connected is allowed
    if connected:
        await communicator.disconnect()


async def test_a_trusted_origin_is_allowed(settings, staff_cookie):
    settings.CSRF_TRUSTED_ORIGINS = ["https://lighter.example"]
    communicator = WebsocketCommunicator(
        application,
        "/ws/dashboard/",
        headers=[(b"host", b"localhost"), (b"origin", b"https://lighter.example"), staff_cookie],
    )

    connected, _ = await communicator.connect(timeout=TIMEOUT_S)

    assert connected
    await communicator.disconnect()
