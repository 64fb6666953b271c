"""Fixtures of the SDK-driven simulator tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.plugins.simulator import api_client, signer_client


@pytest.fixture
async def trader(simulator: Any, funded_account: Any) -> AsyncIterator[tuple[Any, Any, Any]]:
    """(SignerClient, ApiClient, SimAccount) of a funded standard account."""
    client = signer_client(simulator, funded_account)
    api = api_client(simulator)
    yield client, api, funded_account
    await client.close()
    await api.close()
