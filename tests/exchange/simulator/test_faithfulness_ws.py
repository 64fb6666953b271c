"""Faithfulness: the websocket channels the project's client subscribes (exchange/streams.py:
order_book, trade, account_all, account_all_orders, account_tx), driven by the unmodified SDK.

The SDK's own WsClient (order_book + account_all) runs unmodified; the other channels are read
with a plain websocket, as exchange/streams.py does, with the SDK's auth token. The raw protocol
(snapshot/delta continuity, auth refusals, account_all_orders, pings) is in test_ws_protocol.py.
Evidence: lighter-api.md §7.1-§7.2; SDK lighter/ws_client.py (`WsClient`, `order_book_states`,
`on_account_update`).
"""

from __future__ import annotations

import asyncio
import contextlib

from lighter import SignerClient, WsClient

from tests.plugins.simulator import auth_token, signer_client, ws_connect

ETH = 0
LIMIT, GTT = SignerClient.ORDER_TYPE_LIMIT, SignerClient.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME


class Recorder:
    """Collects WsClient callbacks and lets the test wait for a condition on them."""

    def __init__(self) -> None:
        self.books: list[dict] = []
        self.accounts: list[dict] = []
        self.changed = asyncio.Event()

    def on_book(self, market_id: str, book: dict) -> None:
        self.books.append({"market_id": market_id, "bids": [dict(b) for b in book["bids"]]})
        self.changed.set()

    def on_account(self, account_id: str, message: dict) -> None:
        self.accounts.append(message)
        self.changed.set()

    async def until(self, condition, timeout: float = 5.0) -> None:
        async def wait() -> None:
            while not condition():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)


async def test_ws_client_receives_book_and_account_updates(simulator, funded_account):
    recorder = Recorder()
    ws_client = WsClient(
        order_book_ids=[ETH],
        account_ids=[funded_account.index],
        on_order_book_update=recorder.on_book,
        on_account_update=recorder.on_account,
        ws_url=simulator.ws_url,
    )
    task = asyncio.create_task(ws_client.run_async())
    client = signer_client(simulator, funded_account)
    try:
        await recorder.until(lambda: recorder.books and recorder.accounts)
        assert recorder.accounts[0]["type"] == "subscribed/account_all"
        await client.create_order(ETH, 1, 1000, 250000, False, LIMIT, GTT)
        await recorder.until(
            lambda: any(b["price"] == "2500.00" for b in recorder.books[-1]["bids"])
        )
        best_ask = ws_client.order_book_states["0"]["asks"][0]["price"]
        await client.create_market_order(ETH, 2, 1000, int(best_ask.replace(".", "")) + 500, False)
        await recorder.until(
            lambda: (
                recorder.accounts[-1]["type"] == "update/account_all"
                and recorder.accounts[-1]["trades"].get("0")
            )
        )
    finally:
        await client.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if ws_client.ws is not None:
            await ws_client.ws.close()
    position = recorder.accounts[-1]["positions"]["0"]
    assert (position["sign"], position["position"]) == (1, "0.1000")


async def test_trade_channel_reports_a_fill_with_exact_decimals(simulator, funded_account):
    # lighter-api.md §7.2 (`trade/{market}`: subscribed/trade then update/trade with `trades`).
    client = signer_client(simulator, funded_account)
    async with ws_connect(simulator) as probe:
        await probe.send({"type": "subscribe", "channel": f"trade/{ETH}"})
        await probe.expect_type("subscribed/trade")
        await client.create_market_order(ETH, 3, 1000, 400000, False)
        update = await probe.expect_type("update/trade")
    await client.close()
    [trade] = update["trades"]
    assert update["channel"] == f"trade:{ETH}"
    assert trade["size"] == "0.1000" and trade["bid_account_id"] == funded_account.index
    assert len(trade["price"].split(".")[1]) == 2


async def test_account_tx_channel_reports_the_executed_tx_by_the_signers_hash(
    simulator, funded_account
):
    # lighter-api.md §7.2 (`account_tx/{account}`, auth, `txs:[Transaction]`), §6.1 (status 2
    # executed), §3.2 (the hash is the signer's); SDK sign_create_order + send_tx.
    client = signer_client(simulator, funded_account)
    token = auth_token(client, funded_account)
    async with ws_connect(simulator) as probe:
        channel = f"account_tx/{funded_account.index}"
        await probe.send({"type": "subscribe", "channel": channel, "auth": token})
        await probe.expect_type("subscribed/account_tx")
        tx_type, tx_info, tx_hash, _ = client.sign_create_order(
            ETH, 4, 1000, 250000, False, LIMIT, GTT, nonce=0, api_key_index=3
        )
        await client.send_tx(tx_type=tx_type, tx_info=tx_info)
        update = await probe.expect_type("update/account_tx")
    await client.close()
    [tx] = update["txs"]
    assert (tx["hash"], tx["type"], tx["status"]) == (tx_hash, 14, 2)
