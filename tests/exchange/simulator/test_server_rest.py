"""REST details a client depends on: error envelope, form encodings, exact payload rules,
auth carriers, the /sim/ endpoints and the management command's wiring."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import aiohttp
import pytest
from lighter import SignerClient

from tests.plugins.simulator import auth_token, signer_client

ETH = 0


def _get(sim, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(sim.base_url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def _signed_order(simulator, account, coi: int, nonce: int) -> tuple[int, str]:
    client = signer_client(simulator, account)
    tx_type, tx_info, _, err = client.sign_create_order(
        ETH, coi, 1000, 250000, False, SignerClient.ORDER_TYPE_LIMIT,
        SignerClient.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME, nonce=nonce, api_key_index=3,
    )  # fmt: skip
    await client.close()
    assert err is None
    return tx_type, tx_info


async def _token(simulator, account) -> str:
    client = signer_client(simulator, account)
    token = auth_token(client, account)
    await client.close()
    return token


def test_status_and_info(simulator):
    status, body = _get(simulator, "/")
    assert status == 200 and set(body) == {"status", "network_id", "timestamp"}
    assert "contract_address" in _get(simulator, "/info")[1]


def test_unknown_account_is_http_400_code_21100(simulator):
    assert _get(simulator, "/api/v1/account?by=index&value=999999") == (
        400,
        {"code": 21100, "message": "account not found"},
    )
    assert _get(simulator, "/api/v1/accountsByL1Address?l1_address=0xdead")[1]["code"] == 21100


def test_missing_required_parameter_is_a_400(simulator):
    status, body = _get(simulator, "/api/v1/orderBookOrders?market_id=0")
    assert status == 400 and "limit" in body["message"]


def test_unknown_market_is_21602(simulator):
    assert _get(simulator, "/api/v1/recentTrades?market_id=77&limit=5")[1]["code"] == 21602


def test_apikeys_lists_keys_without_0x_and_next_nonce_starts_at_zero(simulator, funded_account):
    _, keys = _get(simulator, f"/api/v1/apikeys?account_index={funded_account.index}")
    [key] = keys["api_keys"]
    assert key["api_key_index"] == 3 and not key["public_key"].startswith("0x")
    assert len(key["public_key"]) == 80
    path = f"/api/v1/nextNonce?account_index={funded_account.index}&api_key_index=3"
    assert _get(simulator, path)[1] == {"code": 200, "nonce": 0}


@pytest.mark.parametrize("multipart", [False, True])
async def test_send_tx_accepts_urlencoded_and_multipart_forms(simulator, funded_account, multipart):
    tx_type, tx_info = await _signed_order(simulator, funded_account, 1, 0)
    if multipart:
        form = aiohttp.FormData()
        form.add_field("tx_type", str(tx_type))
        form.add_field("tx_info", tx_info, content_type="application/json")
    else:
        form = aiohttp.FormData({"tx_type": str(tx_type), "tx_info": tx_info})
    async with aiohttp.ClientSession() as session:
        async with session.post(simulator.base_url + "/api/v1/sendTx", data=form) as reply:
            body = await reply.json()
    assert body["code"] == 200 and len(body["tx_hash"]) == 80
    assert json.loads(body["message"]) == {"ratelimit": "didn't use volume quota"}
    assert isinstance(body["predicted_execution_time_ms"], int)


async def test_executed_tx_is_reported_by_hash(simulator, funded_account):
    tx_type, tx_info = await _signed_order(simulator, funded_account, 2, 0)
    async with aiohttp.ClientSession() as session:
        data = {"tx_type": str(tx_type), "tx_info": tx_info}
        async with session.post(simulator.base_url + "/api/v1/sendTx", data=data) as reply:
            tx_hash = (await reply.json())["tx_hash"]
    status, tx = _get(simulator, f"/api/v1/tx?by=hash&value={tx_hash}")
    assert status == 200 and (tx["status"], tx["type"], tx["nonce"]) == (2, 14, 0)
    assert _get(simulator, "/api/v1/tx?by=hash&value=00")[1]["code"] == 21500


async def test_batch_with_mismatched_lengths_is_21513(simulator, funded_account):
    tx_type, tx_info = await _signed_order(simulator, funded_account, 3, 0)
    data = {"tx_types": json.dumps([tx_type, tx_type]), "tx_infos": json.dumps([tx_info])}
    async with aiohttp.ClientSession() as session:
        async with session.post(simulator.base_url + "/api/v1/sendTxBatch", data=data) as reply:
            assert (reply.status, (await reply.json())["code"]) == (400, 21513)


@pytest.mark.parametrize("carrier", ["header", "auth", "authorization"])
async def test_token_is_accepted_in_header_and_both_query_params(
    simulator, funded_account, carrier
):
    token = await _token(simulator, funded_account)
    path = f"/api/v1/accountActiveOrders?account_index={funded_account.index}"
    if carrier == "header":
        status, _ = _get(simulator, path, {"authorization": token})
    else:
        status, _ = _get(simulator, f"{path}&{carrier}={urllib.parse.quote(token)}")
    assert status == 200


async def test_expired_token_is_refused_with_401(simulator, funded_account):
    token = await _token(simulator, funded_account)
    simulator.advance(11 * 60_000)  # the SDK's token lives 10 minutes
    path = f"/api/v1/accountActiveOrders?account_index={funded_account.index}"
    status, body = _get(simulator, path, {"authorization": token})
    assert status == 401 and "expired" in body["message"]


def test_sim_state_dump_lists_markets_accounts_and_switches(simulator, funded_account):
    state = simulator.sim("GET", "/sim/state")
    assert [m["symbol"] for m in state["markets"]] == ["ETH", "BTC", "SOL"]
    assert [a["index"] for a in state["accounts"]] == [funded_account.index]
    assert state["clock"]["manual"] is True and state["ratelimit"]["enabled"] is False


def test_sim_price_jump_moves_the_mark_price(simulator):
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "3500.00"})
    _, details = _get(simulator, "/api/v1/orderBookDetails?market_id=0")
    assert details["order_book_details"][0]["mark_price"] == "3500.00"


def test_sim_endpoints_refuse_malformed_bodies(simulator):
    with pytest.raises(urllib.error.HTTPError) as refused:
        simulator.sim("POST", "/sim/faults", {"rules": [{"kind": "meteor"}]})
    assert refused.value.code == 400
