"""The SDK's own WsClient (order_book + account_all) works unmodified against /stream."""

from __future__ import annotations

import asyncio
import contextlib

from lighter import SignerClient, WsClient

from tests.plugins.simulator import signer_client

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
