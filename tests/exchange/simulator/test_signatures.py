"""Tx hashes and signatures: the simulator computes exactly the hash the SDK's native signer
returns for each tx type and verifies its Schnorr signature under the registered API key
(lighter-api.md §3.2; SDK lighter/signer_client.py `sign_*`, which return (type, tx_info, hash)).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import lighter
import pytest
from lighter.signer_client import CreateOrderTxReq, create_api_key

from exchange.simulator import ecgfp5, poseidon2, signing
from exchange.simulator.types import SimError
from tests.plugins.simulator import api_client, signer_client

ETH = 0
ACCOUNT = 4242


def test_poseidon2_permutation_known_answer():
    # Known-answer vector of the plonky2-compatible Goldilocks instance (width 12), the one
    # Lighter's Go library tests its permutation with.
    state = [
        5417613058500526590, 2481548824842427254, 6473243198879784792, 1720313757066167274,
        2806320291675974571, 7407976414706455446, 1105257841424046885, 7613435757403328049,
        3376066686066811538, 5888575799323675710, 6689309723188675948, 2468250420241012720,
    ]  # fmt: skip
    poseidon2.permute(state)
    assert state == [
        5364184781011389007, 15309475861242939136, 5983386513087443499, 886942118604446276,
        14903657885227062600, 7742650891575941298, 1962182278500985790, 10213480816595178755,
        3510799061817443836, 4610029967627506430, 7566382334276534836, 2288460879362380348,
    ]  # fmt: skip


def test_square_roots_in_the_quintic_extension():
    x = (3, 1, 4, 1, 5)
    root = ecgfp5.sqrt(ecgfp5.mul(x, x))
    assert root is not None and ecgfp5.mul(root, root) == ecgfp5.mul(x, x)
    assert ecgfp5.mul(x, ecgfp5.inverse(x)) == (1, 0, 0, 0, 0)


def _group_orders(now_ms: int) -> list[Any]:
    expiry = now_ms + 28 * 86_400_000
    return [
        CreateOrderTxReq(MarketIndex=ETH, ClientOrderIndex=101, BaseAmount=1000, Price=300000,
                         IsAsk=0, Type=0, TimeInForce=1, ReduceOnly=0, TriggerPrice=0,
                         OrderExpiry=expiry),
        CreateOrderTxReq(MarketIndex=ETH, ClientOrderIndex=102, BaseAmount=0, Price=330000,
                         IsAsk=1, Type=5, TimeInForce=1, ReduceOnly=1, TriggerPrice=320000,
                         OrderExpiry=expiry),
        CreateOrderTxReq(MarketIndex=ETH, ClientOrderIndex=103, BaseAmount=0, Price=270000,
                         IsAsk=1, Type=3, TimeInForce=1, ReduceOnly=1, TriggerPrice=280000,
                         OrderExpiry=expiry),
    ]  # fmt: skip


# (name, sign call) — every tx type the simulator executes, with and without attributes.
SIGNED: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("create order", lambda c, k: c.sign_create_order(ETH, 5, 1000, 300000, 1, 0, 1, **k)),
    ("market order with self-trade attributes", lambda c, k: c.sign_create_order(
        ETH, 6, 1000, 310000, 0, 1, 0, order_expiry=0, self_trade_behavior_mode=2,
        self_trade_equality_mode=1, **k)),
    ("stop loss", lambda c, k: c.sign_create_order(ETH, 7, 1000, 280000, 1, 2, 0, True, 290000,
                                                   **k)),
    ("cancel order", lambda c, k: c.sign_cancel_order(ETH, 5, **k)),
    ("cancel all of one market", lambda c, k: c.sign_cancel_all_orders(0, 0, ETH, **k)),
    ("scheduled cancel all", lambda c, k: c.sign_cancel_all_orders(1, 1_900_000_000_000, **k)),
    ("modify order", lambda c, k: c.sign_modify_order(ETH, 5, 2000, 301000, **k)),
    ("modify order with version", lambda c, k: c.sign_modify_order(ETH, 5, 2000, 301000,
                                                                   order_version=3, **k)),
    ("grouped orders", lambda c, k: c.sign_create_grouped_orders(
        3, _group_orders(1_800_000_000_000), **k)),
    ("update leverage", lambda c, k: c.sign_update_leverage(ETH, 500, 1, **k)),
    ("update margin", lambda c, k: c.sign_update_margin(ETH, 5_000_000_000, 1, **k)),
    ("withdraw", lambda c, k: c.sign_withdraw(3, 0, 7_000_000_000, **k)),
    ("create sub account", lambda c, k: c.sign_create_sub_account(**k)),
    ("skip nonce", lambda c, k: c.sign_cancel_order(ETH, 5, skip_nonce=1, **k)),
]  # fmt: skip


@pytest.fixture
async def offline_signer():
    private_key, public_key, err = create_api_key()
    assert err is None
    client = lighter.SignerClient("http://127.0.0.1:9", ACCOUNT, {3: private_key})
    yield client, public_key.removeprefix("0x")
    await client.close()


@pytest.mark.parametrize(("name", "sign"), SIGNED, ids=[row[0] for row in SIGNED])
async def test_hash_and_signature_match_the_sdk_signer(offline_signer, name, sign):
    client, public_key = offline_signer
    tx_type, tx_info, tx_hash, err = sign(client, {"nonce": 11, "api_key_index": 3})
    assert err is None, err
    info = json.loads(tx_info)

    check = signing.SignatureCheck((304,))
    assert check.signer_hash(tx_type, info, public_key) == tx_hash

    _, other_key, _ = create_api_key()
    with pytest.raises(SimError) as refused:
        check.signer_hash(tx_type, info, other_key)
    assert refused.value.code == 21120
    tampered = dict(info, Nonce=info["Nonce"] + 1)
    with pytest.raises(SimError):
        check.signer_hash(tx_type, tampered, public_key)


async def test_signature_for_another_chain_id_is_accepted_and_hashed_with_it():
    private_key, public_key, _ = create_api_key()
    client = lighter.SignerClient("http://127.0.0.1:9", ACCOUNT, {3: private_key}, chain_id=300)
    _, tx_info, tx_hash, _ = client.sign_cancel_order(ETH, 5, nonce=1, api_key_index=3)
    await client.close()
    info = json.loads(tx_info)
    assert signing.SignatureCheck((304, 300)).signer_hash(15, info, public_key) == tx_hash
    with pytest.raises(SimError):
        signing.SignatureCheck((304,)).signer_hash(15, info, public_key)


async def test_change_pub_key_is_signed_by_the_key_it_registers():
    from eth_account import Account

    private_key, public_key, _ = create_api_key()
    client = lighter.SignerClient("http://127.0.0.1:9", ACCOUNT, {4: private_key})
    eth_key = Account.create().key.hex()
    _, tx_info, tx_hash, err = client.sign_change_api_key(
        eth_key, public_key, nonce=0, api_key_index=4
    )
    await client.close()
    assert err is None, err
    info = json.loads(tx_info)
    assert signing.SignatureCheck((304,)).signer_hash(8, info, "") == tx_hash
    _, stranger, _ = create_api_key()
    forged = dict(
        info, PubKey=base64.b64encode(bytes.fromhex(stranger.removeprefix("0x"))).decode()
    )
    with pytest.raises(SimError):
        signing.SignatureCheck((304,)).signer_hash(8, forged, "")


# -- through a running simulator -----------------------------------------------------------------


async def test_send_tx_returns_the_signers_hash(simulator, funded_account):
    client = signer_client(simulator, funded_account)
    key = funded_account.api_key_index
    tx_type, tx_info, tx_hash, _ = client.sign_create_order(
        ETH, 9, 1000, 290000, 0, 0, 1, nonce=0, api_key_index=key
    )
    reply = await client.send_tx(tx_type=tx_type, tx_info=tx_info)
    await client.close()
    assert reply.code == 200 and reply.tx_hash == tx_hash
    record = simulator.call(lambda: simulator.engine.tx(tx_hash))
    assert record is not None and record.status == 2


async def test_tx_signed_by_a_key_not_registered_for_the_account_is_refused(
    simulator, funded_account
):
    impostor_key, _, _ = create_api_key()
    impostor = lighter.SignerClient(
        simulator.base_url, funded_account.index, {funded_account.api_key_index: impostor_key}
    )
    _, reply, err = await impostor.create_order(ETH, 9, 1000, 290000, False, 0, 1)
    await impostor.close()
    assert reply is None and "21120" in err and "invalid signature" in err
    nonce = simulator.call(
        lambda: simulator.engine.next_nonce(funded_account.index, funded_account.api_key_index)
    )
    assert nonce == 0  # refused at the API: the nonce is not consumed
    assert simulator.call(lambda: simulator.engine.active_orders(funded_account.index)) == []


async def test_auth_token_signature_is_checked_against_the_key_it_names(offline_signer):
    client, public_key = offline_signer
    token, err = client.create_auth_token_with_expiry(600, api_key_index=3)
    assert err is None
    check = signing.SignatureCheck((304,))
    assert check.token_ok(token, public_key)
    _, other_key, _ = create_api_key()
    assert not check.token_ok(token, other_key)
    expiry, account, key, signature = token.split(":")
    assert not check.token_ok(f"{int(expiry) + 1}:{account}:{key}:{signature}", public_key)


async def test_auth_token_made_by_an_unregistered_key_is_refused(simulator, funded_account):
    impostor_key, _, _ = create_api_key()
    impostor = lighter.SignerClient(
        simulator.base_url, funded_account.index, {funded_account.api_key_index: impostor_key}
    )
    token, _ = impostor.create_auth_token_with_expiry(
        600, api_key_index=funded_account.api_key_index
    )
    await impostor.close()
    api = api_client(simulator)
    with pytest.raises(lighter.exceptions.UnauthorizedException):
        await lighter.OrderApi(api).account_active_orders(
            authorization=token, account_index=funded_account.index
        )
    await api.close()


async def test_a_tx_lost_before_the_sequencer_still_answers_the_signers_hash(
    simulator, funded_account
):
    simulator.faults({"kind": "tx_never_executed", "target": "sendTx", "count": 1})
    client = signer_client(simulator, funded_account)
    tx_type, tx_info, tx_hash, _ = client.sign_cancel_all_orders(
        0, 0, nonce=0, api_key_index=funded_account.api_key_index
    )
    reply = await client.send_tx(tx_type=tx_type, tx_info=tx_info)
    await client.close()
    assert reply.code == 200 and reply.tx_hash == tx_hash
