"""CSV exports of a bot's fills, orders and events: API endpoint and admin action."""
# ruff: noqa: F811 - pytest fixtures imported from tests.bots.api_helpers

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from bots.models import BotEvent, Fill, GridBot, Order
from lighterweb.models import ApiToken
from tests.bots.api_helpers import (  # noqa: F401 - fixtures
    Api,
    account,
    api,
    make_user,
    market,
    staff,
)
from tests.lighterweb.factories import make_bot

pytestmark = pytest.mark.django_db


def _at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 12, day, hour, 0, 5, tzinfo=UTC)


@pytest.fixture
def bot(account, market) -> GridBot:
    bot = make_bot(account, market, name="eth-grid")
    for day, trade_id, price in ((1, 11, "3990"), (2, 12, "4000.5"), (3, 13, "4010")):
        Fill.objects.create(
            account=account,
            market=market,
            bot=bot,
            trade_id=trade_id,
            side="buy",
            price=Decimal(price),
            size_base=Decimal("0.01"),
            fee=Decimal("0.0000997751"),
            is_maker=True,
            executed_at=_at(day),
        )
    order = Order.objects.create(
        bot=bot,
        account=account,
        market=market,
        client_order_index=5,
        side="sell",
        price=Decimal("4010"),
        size_base=Decimal("0.01"),
        status="canceled",
        reason="=HYPERLINK(evil)",
    )
    Order.objects.filter(pk=order.pk).update(created_at=_at(2))
    event = BotEvent.objects.create(bot=bot, account=account, kind="note", message="+1 level")
    BotEvent.objects.filter(pk=event.pk).update(created_at=_at(2))
    return bot


def _csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_fills_in_a_date_range_as_csv_with_market_decimals(api, bot):
    response = api.get(
        f"/api/bots/{bot.pk}/export", kind="fills", since="2026-12-02", until="2026-12-03"
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="eth-grid-fills.csv"' in response["Content-Disposition"]
    header, *rows = _csv(response)
    assert header[:8] == [
        "bot", "symbol", "executed_at_utc", "trade_id", "side", "price_usdc", "size_base",
        "fee_usdc",
    ]  # fmt: skip
    assert rows == [
        [
            "eth-grid", "ETH", "2026-12-02T12:00:05+00:00", "12", "buy", "4000.50", "0.0100",
            "0.000100", "maker", "", "", "",
        ]
    ]  # fmt: skip


def test_orders_and_events_export_and_formulas_are_defused(api, bot):
    orders = _csv(api.get(f"/api/bots/{bot.pk}/export", kind="orders"))
    events = _csv(api.get(f"/api/bots/{bot.pk}/export", kind="events"))

    assert len(orders) == 2 and orders[1][11] == "'=HYPERLINK(evil)"
    assert events[1][1:] == ["2026-12-02T12:00:05+00:00", "info", "note", "'+1 level"]


def test_a_range_ending_before_it_starts_is_a_422_on_until(api, bot):
    response = api.get(
        f"/api/bots/{bot.pk}/export", kind="fills", since="2026-12-03", until="2026-12-02"
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "until"


def test_an_unknown_kind_is_a_422_on_kind(api, bot):
    response = api.get(f"/api/bots/{bot.pk}/export", kind="balances")

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "kind"


def test_admin_action_asks_for_the_range_then_downloads(admin_client, bot):
    url = reverse("admin:bots_gridbot_changelist")
    chosen = {"action": "export_csv", "_selected_action": [bot.pk]}

    form = admin_client.post(url, chosen)
    download = admin_client.post(
        url, {**chosen, "export": "1", "kind": "fills", "since": "2026-12-02 00:00:00"}
    )

    assert form.status_code == 200 and "Download CSV" in form.text
    assert download.status_code == 200
    assert [row[3] for row in _csv(download)[1:]] == ["12", "13"]


def test_a_viewer_without_fill_rights_cannot_export_fills(bot):
    user = make_user("val", role="viewer")
    user.groups.clear()
    user.user_permissions.add(Permission.objects.get(codename="view_gridbot"))
    _, raw = ApiToken.issue(user, "tests")

    response = Api(raw).get(f"/api/bots/{bot.pk}/export", kind="fills")

    assert response.status_code == 403
