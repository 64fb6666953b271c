"""The websocket protocol of /stream: connect, subscribe/unsubscribe, snapshots, book deltas
with nonce continuity, private channels, app-level ping/pong and jsonapi/sendtx."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from lighter import SignerClient

from tests.plugins.simulator import auth_token, run_simulator, signer_client, ws_connect

ETH = 0
LIMIT, GTT = SignerClient.ORDER_TYPE_LIMIT, SignerClient.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME


def _ticks(price: str) -> int:
    return int(price.replace(".", ""))


async def test_connect_greets_with_a_session_id(simulator):
    async with ws_connect(simulator) as probe:
        frame = await probe.expect_type("connected")
        assert frame["session_id"]


async def test_order_book_snapshot_is_best_first_with_exact_decimals(simulator):
    async with ws_connect(simulator) as probe:
        await probe.send({"type": "subscribe", "channel": "order_book/0"})
        frame = await probe.expect_type("subscribed/order_book")
    book = frame["order_book"]
    assert frame["channel"] == "order_book:0"
    asks = [_ticks(level["price"]) for level in book["asks"]]
    bids = [_ticks(level["price"]) for level in book["bids"]]
    assert asks == sorted(asks) and bids == sorted(bids, reverse=True)
    assert asks[0] > bids[0]
    assert all(len(level["price"].split(".")[1]) == 2 for level in book["asks"] + book["bids"])
    assert all(len(level["size"].split(".")[1]) == 4 for level in book["asks"] + book["bids"])


async def test_subscribing_twice_is_an_error_and_unsubscribe_acknowledges(simulator):
    async with ws_connect(simulator) as probe:
        await probe.send({"type": "subscribe", "channel": "trade/0"})
        await probe.expect_type("subscribed/trade")
        await probe.send({"type": "subscribe", "channel": "trade/0"})
        error = await probe.expect_type("error")
        assert error["code"] == 30003
        await probe.send({"type": "unsubscribe", "channel": "trade/0"})
        assert (await probe.expect_type("unsubscribed"))["channel"] == "trade:0"


async def test_unknown_market_is_an_invalid_channel(simulator):
    async with ws_connect(simulator) as probe:
        await probe.send({"type": "subscribe", "channel": "order_book/99"})
        assert (await probe.expect_type("error"))["code"] == 30005


async def test_book_deltas_carry_only_changed_levels_and_chain_nonces(simulator, funded_account):
    client = signer_client(simulator, funded_account)
    async with ws_connect(simulator) as probe:
        await probe.send({"type": "subscribe", "channel": "order_book/0"})
        snapshot = await probe.expect_type("subscribed/order_book")
        bid = _ticks(snapshot["order_book"]["bids"][0]["price"])
        price = bid - 777
        await client.create_order(ETH, 1, 1000, price, False, LIMIT, GTT)
        added = await probe.expect_type("update/order_book")
        await client.cancel_order(ETH, 1)
        removed = await probe.expect_type("update/order_book")
    await client.close()
    expected_price = f"{price // 100}.{price % 100:02d}"
    assert added["order_book"]["begin_nonce"] == snapshot["order_book"]["nonce"]
    assert {"price": expected_price, "size": "0.1000"} in added["order_book"]["bids"]
    assert removed["order_book"]["begin_nonce"] == added["order_book"]["nonce"]
    assert {"price": expected_price, "size": "0.0000"} in removed["order_book"]["bids"]


async def test_private_channel_needs_a_token_for_that_account(simulator, funded_account):
    client = signer_client(simulator, funded_account)
    channel = f"account_all_orders/{funded_account.index}"
    async with ws_connect(simulator) as probe:
        await probe.send({"type": "subscribe", "channel": channel})
        refused = await probe.expect_type("error")
        token = auth_token(client, funded_account)
        await probe.send({"type": "subscribe", "channel": channel, "auth": token})
        accepted = await probe.expect_type("subscribed/account_all_orders")
    await client.close()
    assert refused["code"] == 30012
    assert accepted["channel"] == f"account_all_orders:{funded_account.index}"


async def test_account_orders_channel_reports_a_new_order(simulator, funded_account):
    client = signer_client(simulator, funded_account)
    token = auth_token(client, funded_account)
    channel = f"account_all_orders/{funded_account.index}"
    async with ws_connect(simulator) as probe:
        await probe.send({"type": "subscribe", "channel": channel, "auth": token})
        await probe.expect_type("subscribed/account_all_orders")
        await client.create_order(ETH, 5, 1000, 250000, False, LIMIT, GTT)
        update = await probe.expect_type("update/account_all_orders")
    await client.close()
    [order] = update["orders"]["0"]
    assert (order["client_order_index"], order["price"]) == (5, "2500.00")


async def test_jsonapi_sendtx_accepts_object_and_string_tx_info(simulator, funded_account):
    client = signer_client(simulator, funded_account)
    key = funded_account.api_key_index
    replies = []
    async with ws_connect(simulator) as probe:
        for i, as_string in enumerate((False, True)):
            _, nonce = await client.nonce_manager.async_next_nonce(key)
            tx_type, tx_info, _, err = client.sign_create_order(
                ETH, 60 + i, 1000, 250000, False, LIMIT, GTT, nonce=nonce, api_key_index=key
            )
            assert err is None
            info = tx_info if as_string else json.loads(tx_info)
            await probe.send(
                {
                    "type": "jsonapi/sendtx",
                    "data": {"id": str(i), "tx_type": tx_type, "tx_info": info},
                }
            )
            replies.append(await probe.expect_type("jsonapi/sendtx"))
    await client.close()
    assert [(r["code"], r["id"], len(r["tx_hash"])) for r in replies] == [
        (200, "0", 80),
        (200, "1", 80),
    ]


async def test_jsonapi_sendtx_reports_an_invalid_nonce(simulator, funded_account):
    client = signer_client(simulator, funded_account)
    tx_type, tx_info, _, err = client.sign_create_order(
        ETH, 70, 1000, 250000, False, LIMIT, GTT, nonce=999, api_key_index=3
    )
    assert err is None
    async with ws_connect(simulator) as probe:
        await probe.send(
            {"type": "jsonapi/sendtx", "data": {"tx_type": tx_type, "tx_info": tx_info}}
        )
        reply = await probe.expect_type("jsonapi/sendtx")
    await client.close()
    assert (reply["code"], reply["message"]) == (21104, "invalid nonce")


@pytest.fixture
def fast_ping_simulator():
    yield from run_simulator(ping_interval_s=0.2, pong_timeout_s=0.4)


async def _read_until_closed(probe) -> None:
    msg = await probe.ws.receive(timeout=5)
    while msg.type == aiohttp.WSMsgType.TEXT:
        msg = await probe.ws.receive(timeout=5)


async def test_client_that_answers_pings_stays_connected(fast_ping_simulator):
    async with ws_connect(fast_ping_simulator) as probe:
        for _ in range(3):
            await probe.expect_type("ping")
            await probe.send({"type": "pong"})
        assert not probe.ws.closed


async def test_silent_client_is_dropped_with_1008_no_pong(fast_ping_simulator):
    async with ws_connect(fast_ping_simulator) as probe:
        await probe.expect_type("ping")
        await _read_until_closed(probe)
    assert probe.ws.close_code == 1008


async def test_missed_pong_fault_drops_even_an_answering_client(fast_ping_simulator):
    fast_ping_simulator.faults({"kind": "missed_pong"})
    async with ws_connect(fast_ping_simulator) as probe:
        await probe.expect_type("ping")
        await probe.send({"type": "pong"})
        await _read_until_closed(probe)
    assert probe.ws.close_code == 1008


async def test_ws_drop_fault_closes_the_connection_on_the_next_frame(simulator, funded_account):
    client = signer_client(simulator, funded_account)
    async with ws_connect(simulator) as probe:
        await probe.send({"type": "subscribe", "channel": "order_book/0"})
        await probe.expect_type("subscribed/order_book")
        simulator.faults({"kind": "ws_drop", "target": "order_book", "count": 1})
        await client.create_order(ETH, 9, 1000, 250000, False, LIMIT, GTT)
        await _read_until_closed(probe)
    await client.close()
    assert probe.ws.closed


async def test_ws_lose_fault_loses_one_frame_and_keeps_the_connection(simulator, funded_account):
    client = signer_client(simulator, funded_account)
    async with ws_connect(simulator) as probe:
        await probe.send({"type": "subscribe", "channel": "order_book/0"})
        await probe.expect_type("subscribed/order_book")
        simulator.faults({"kind": "ws_lose", "target": "order_book", "count": 1})
        await client.create_order(ETH, 9, 1000, 250000, False, LIMIT, GTT)  # its frame is lost
        # The second order only once that frame went (lost): within one 50 ms tick both orders
        # would share the one lost delta and no update would come at all.
        async with asyncio.timeout(5):
            while simulator.sim("GET", "/sim/faults")["rules"][0]["count"] != 0:
                await asyncio.sleep(0.01)
        await client.create_order(ETH, 10, 1000, 240000, False, LIMIT, GTT)
        update = await probe.expect_type("update/order_book")
        assert probe.ws.close_code is None  # the socket stayed up
    await client.close()
    bids = {level["price"] for level in update["order_book"]["bids"]}
    assert "2400.00" in bids and "2500.00" not in bids  # the first order's delta never came


async def test_account_market_channel_snapshots_and_reports_a_fill(simulator, funded_account):
    client = signer_client(simulator, funded_account)
    token = auth_token(client, funded_account)
    channel = f"account_market/0/{funded_account.index}"
    async with ws_connect(simulator) as probe:
        await probe.send({"type": "subscribe", "channel": channel, "auth": token})
        snapshot = await probe.expect_type("subscribed/account_market")
        await client.create_market_order(ETH, 8, 1000, 400000, False)
        update = await probe.expect(
            lambda f: f.get("type") == "update/account_market" and f.get("trades")
        )
    await client.close()
    assert snapshot["channel"] == f"account_market:0:{funded_account.index}"
    assert snapshot["orders"] == [] and snapshot["position"] is None
    assert update["trades"][0]["size"] == "0.1000"
    assert (update["position"]["sign"], update["position"]["position"]) == (1, "0.1000")
