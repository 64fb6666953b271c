"""The client's public surface: one object whose methods are its parts' methods, all documented."""

from __future__ import annotations

import inspect

import pytest

from exchange.client import LighterClient

PARTS = ("signer", "reads", "sender", "trading", "execution")
OWN = {"open", "close", "budget_usage", "open_stream", "guard_sends"}


def _client() -> LighterClient:
    # Nothing connects before the first call: building one needs no exchange and no Redis.
    return LighterClient(
        "http://127.0.0.1:9",
        account_index=1,
        api_key_index=3,
        api_private_key="0x" + "ab" * 40,
        redis_url="redis://127.0.0.1:9/0",
    )


def _public_methods() -> list[str]:
    client = _client()
    return sorted(
        name for name in dir(client) if not name.startswith("_") and callable(getattr(client, name))
    )


@pytest.fixture
def client() -> LighterClient:
    return _client()


def test_the_client_keeps_its_public_methods() -> None:
    expected = {"place_order", "replace_orders", "resolve", "close_position", "fills", "account"}
    assert expected <= set(_public_methods())


@pytest.mark.parametrize("name", _public_methods())
def test_every_public_method_says_what_it_does(client: LighterClient, name: str) -> None:
    assert inspect.getdoc(getattr(client, name)), name


@pytest.mark.parametrize("name", sorted(set(_public_methods()) - OWN))
def test_every_other_method_is_one_of_its_parts_methods(client: LighterClient, name: str) -> None:
    method = getattr(client, name)
    owners = [part for part in PARTS if method.__self__ is getattr(client, part)]
    assert len(owners) == 1, name
    assert inspect.signature(method) == inspect.signature(getattr(getattr(client, owners[0]), name))
