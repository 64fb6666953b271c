"""A Lighter that cannot be reached reads as a network problem, never as a rejected key."""

from __future__ import annotations

import pytest

from exchange import errors
from exchange.http import RestTransport
from exchange.signer import Signer
from lighterweb.redis_server import free_port

# The Go signer's text for a DNS failure, as a user met it (issue 15).
GO_DNS = (
    'failed to get Api Keys: Get "https://mainnet.zklighter.elliot.ai/api/v1/apikeys?'
    'account_index=1&api_key_index=3": dial tcp: lookup mainnet.zklighter.elliot.ai: no such host'
)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (GO_DNS, "host name not found (DNS)"),
        ("Cannot connect to host x:443 [Name or service not known]", "host name not found (DNS)"),
        ("Cannot connect to host 127.0.0.1:9 [Connect call failed]", "connection refused"),
        ('Get "http://x/apikeys": dial tcp 10.0.0.1:443: i/o timeout', "timed out"),
        ("dial tcp 10.0.0.1:443: connect: network is unreachable", "network unreachable"),
        ("api key mismatch: the key does not match the registered public key", None),
        ("rejected (21109): invalid signature", None),
    ],
)  # fmt: skip
def test_network_failures_are_told_from_refusals(text: str, reason: str | None) -> None:
    assert errors.network_failure(text) == reason


def test_unreachable_is_transient_and_names_the_url() -> None:
    error = errors.UnreachableError("https://x.example", "host name not found (DNS)")

    assert error.is_transient
    assert str(error) == "cannot reach Lighter at https://x.example: host name not found (DNS)"


async def test_a_refused_connection_is_an_unreachable_error_naming_the_url() -> None:
    base_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    transport = RestTransport(base_url, timeout_s=5)
    try:
        with pytest.raises(errors.UnreachableError) as caught:
            await transport.post_form("sendTx", {"tx_type": "14"})
    finally:
        await transport.close()

    assert str(caught.value).startswith(f"cannot reach Lighter at {base_url}: connection refused")


async def test_the_key_check_of_an_unreachable_host_is_not_an_auth_error(funded_account) -> None:
    base_url = f"http://127.0.0.1:{free_port()}"
    signer = Signer(
        base_url,
        chain_id=304,
        account_index=funded_account.index,
        api_key_index=funded_account.api_key_index,
        api_private_key=funded_account.private_key,
    )
    try:
        with pytest.raises(errors.UnreachableError) as caught:
            await signer.check_api_key()
    finally:
        await signer.close()

    assert f"cannot reach Lighter at {base_url}: connection refused" in str(caught.value)
    assert funded_account.private_key.removeprefix("0x") not in str(caught.value)
