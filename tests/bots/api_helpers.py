"""Fixtures and builders for the REST API tests (tests/bots/test_api*.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from bots.models import BotEvent, ExchangeAccount, Fill, GridBot, Market, Order
from lighterweb.models import ApiToken
from tests.lighterweb import factories
from tests.lighterweb.factories import make_account, make_bot, make_market


def make_user(username: str, *, staff: bool = True, role: str | None = "admin") -> User:
    """A staff user in the admin role by default (every API operation allowed)."""
    return factories.make_user(username, staff=staff, role=role if staff else None)


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


class Api:
    """A test client that sends JSON and a bearer token, like a script would."""

    def __init__(self, raw_token: str) -> None:
        self.client = Client()
        self.headers = bearer(raw_token)

    def call(self, method: str, url: str, body: Any = None) -> Any:
        kwargs: dict[str, Any] = {"headers": self.headers}
        if body is not None:
            kwargs |= {"data": body, "content_type": "application/json"}
        return getattr(self.client, method.lower())(url, **kwargs)

    def get(self, url: str, **params: Any) -> Any:
        return self.client.get(url, params, headers=self.headers)

    def post(self, url: str, body: Any = None) -> Any:
        return self.call("post", url, {} if body is None else body)

    def patch(self, url: str, body: Any) -> Any:
        return self.call("patch", url, body)

    def delete(self, url: str) -> Any:
        return self.call("delete", url)


@pytest.fixture
def staff() -> User:
    return make_user("alice")


@pytest.fixture
def api(staff: User, settings: Any, redis_url: str) -> Api:
    """A staff user's bearer client; services reach the test Redis (leases, Celery broker)."""
    settings.REDIS_URL = redis_url
    settings.CELERY_BROKER_URL = redis_url
    _, raw = ApiToken.issue(staff, "tests")
    return Api(raw)


@pytest.fixture
def account() -> ExchangeAccount:
    return make_account(name="main")


@pytest.fixture
def market() -> Market:
    return make_market()


@pytest.fixture
def bot(account: ExchangeAccount, market: Market) -> GridBot:
    return make_bot(account, market, name="eth-grid")


def make_order(bot: GridBot, index: int, **overrides: Any) -> Order:
    fields: dict[str, Any] = {
        "bot": bot,
        "account": bot.account,
        "market": bot.market,
        "client_order_index": index,
        "side": "buy",
        "price": Decimal("3990"),
        "size_base": Decimal("0.01"),
        "status": "open",
        "level_index": -1,
    }
    return Order.objects.create(**(fields | overrides))


def make_fill(bot: GridBot, trade_id: int, **overrides: Any) -> Fill:
    fields: dict[str, Any] = {
        "bot": bot,
        "account": bot.account,
        "market": bot.market,
        "trade_id": trade_id,
        "side": "buy",
        "price": Decimal("3990"),
        "size_base": Decimal("0.01"),
        "fee": Decimal("0"),
        "is_maker": True,
        "level_index": -1,
        "executed_at": timezone.now(),
    }
    return Fill.objects.create(**(fields | overrides))


def make_event(bot: GridBot, kind: str = "note", **overrides: Any) -> BotEvent:
    fields: dict[str, Any] = {
        "bot": bot,
        "account": bot.account,
        "kind": kind,
        "message": f"{kind} happened",
        "level": "info",
    }
    return BotEvent.objects.create(**(fields | overrides))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)
