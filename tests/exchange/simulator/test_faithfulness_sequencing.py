"""Faithfulness: nonces, batches and cancel-alls (the dead-man's switch), driven only through the
unmodified SDK as a mainnet bot would. Each test names its evidence."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lighter
import pytest
from lighter import SignerClient

from tests.exchange.simulator.sdk_reads import (
    ETH,
    GTT,
    LIMIT,
    account_detail,
    active,
    best,
    inactive,
)
from tests.plugins.simulator import TEST_CONFIG, RunningSimulator, run_simulator, signer_client

BTC = 1
MINUTE_MS = 60_000
SCHEDULED, IMMEDIATE = SignerClient.CANCEL_ALL_TIF_SCHEDULED, SignerClient.CANCEL_ALL_TIF_IMMEDIATE


@pytest.fixture
def latency_simulator() -> Iterator[RunningSimulator]:
    """Lighter's standard-tier latencies (maker/cancel 200 ms, taker 300 ms), manual clock."""
    yield from run_simulator({**TEST_CONFIG, "latency_ms": None})


def _now_ms(simulator: RunningSimulator) -> int:
    now: int = simulator.sim("GET", "/sim/clock")["now_ms"]
    return now


async def test_invalid_nonce_is_refused_and_hard_refresh_recovers(simulator, trader):
    # lighter-api.md §5 (nonces per key, consecutive; 21104), §9.3 (two writers on one key);
    # SDK nonce_manager.OptimisticNonceManager + process_api_key_and_nonce's hard refresh on
    # "invalid nonce".
    client, api, account = trader
    _, bid = await best(api)
    await client.create_order(ETH, 51, 1000, bid - 500, False, LIMIT, GTT)
    other = signer_client(simulator, account)
    await other.create_order(ETH, 52, 1000, bid - 600, False, LIMIT, GTT)
    await other.close()
    _, _, err = await client.create_order(ETH, 53, 1000, bid - 700, False, LIMIT, GTT)
    assert "invalid nonce" in err
    _, reply, err = await client.create_order(ETH, 53, 1000, bid - 700, False, LIMIT, GTT)
    assert err is None and reply.code == 200
    assert {o.client_order_index for o in await active(api, client, account)} == {51, 52, 53}


async def test_cancel_sent_right_after_a_taker_order_executes_after_it(latency_simulator):
    # lighter-api.md §5 (one sequence of nonces per API key: the sequencer runs a key's txs in
    # nonce order) and §4.2 (taker 300 ms, cancel 200 ms on standard accounts): the cancel must
    # not overtake the order it cancels.
    from tests.plugins.simulator import api_client

    sim = latency_simulator
    account = sim.create_account()
    client, api = signer_client(sim, account), api_client(sim)
    book = await lighter.OrderApi(api).order_book_orders(market_id=ETH, limit=1)
    ask = int(book.asks[0].price.replace(".", ""))
    level = int(book.asks[0].remaining_base_amount.replace(".", ""))
    _, placed, err = await client.create_order(ETH, 61, level + 1000, ask, False, LIMIT, GTT)
    assert err is None
    _, cancelled, err = await client.cancel_order(ETH, 61)
    assert err is None
    assert cancelled.predicted_execution_time_ms == placed.predicted_execution_time_ms
    sim.advance(300)

    order = (await inactive(api, client, account))[61]
    assert order.status == "canceled"
    assert order.filled_base_amount == book.asks[0].remaining_base_amount
    assert await active(api, client, account) == []
    await client.close()
    await api.close()


async def test_batch_of_fifty_orders_is_accepted_and_placed(trader):
    # lighter-api.md §3.9 (sendTxBatch: same key, consecutive nonces, up to 50); SDK
    # sign_create_order + send_tx_batch, nonce_manager.async_next_nonce.
    client, api, account = trader
    _, bid = await best(api)
    types, infos = await _signed_orders(client, account, bid, 50)
    reply = await client.send_tx_batch(tx_types=types, tx_infos=infos)
    assert reply.code == 200 and len(reply.tx_hash) == 50
    assert len(await active(api, client, account)) == 50


async def test_batch_of_more_than_fifty_is_refused_whole(trader):
    # lighter-api.md §3.9 / Appendix A: 21514 "maximum 50 transactions allowed per batch".
    client, api, account = trader
    _, bid = await best(api)
    types, infos = await _signed_orders(client, account, bid, 51)
    with pytest.raises(lighter.exceptions.BadRequestException) as refused:
        await client.send_tx_batch(tx_types=types, tx_infos=infos)
    assert "21514" in str(refused.value)
    assert await active(api, client, account) == []


async def _signed_orders(client: Any, account: Any, bid: int, n: int) -> tuple[list, list]:
    key = account.api_key_index
    types, infos = [], []
    for i in range(n):
        _, nonce = await client.nonce_manager.async_next_nonce(key)
        tx_type, tx_info, _, err = client.sign_create_order(
            ETH, 100 + i, 500, bid - 500 - i, False, LIMIT, GTT, nonce=nonce, api_key_index=key
        )
        assert err is None
        types.append(tx_type)
        infos.append(tx_info)
    return types, infos


async def test_immediate_cancel_all_of_one_market_leaves_the_others(trader):
    # lighter-api.md §3.5 (attribute 5 = one market, immediate only); SDK
    # cancel_all_orders(..., cancel_all_market_index); example cancel_all_orders_single_market.
    client, api, account = trader
    _, bid = await best(api)
    _, btc_bid = await best(api, BTC)
    await client.create_order(ETH, 71, 1000, bid - 500, False, LIMIT, GTT)
    await client.create_order(BTC, 72, 100, btc_bid - 500, False, LIMIT, GTT)
    _, reply, err = await client.cancel_all_orders(IMMEDIATE, 0, cancel_all_market_index=ETH)
    assert err is None and reply.code == 200
    ended = await inactive(api, client, account)
    assert ended[71].status == "canceled" and 72 not in ended


async def test_scheduled_cancel_all_fires_when_the_clock_passes_it(simulator, trader):
    # lighter-api.md §3.5 (TimeInForce 1, Time in ms, shown as account.cancel_all_time).
    client, api, account = trader
    _, bid = await best(api)
    await client.create_order(ETH, 41, 1000, bid - 500, False, LIMIT, GTT)
    fire_at = _now_ms(simulator) + 6 * MINUTE_MS
    _, reply, err = await client.cancel_all_orders(SCHEDULED, fire_at)
    assert err is None and reply.code == 200
    assert (await account_detail(api, account)).cancel_all_time == fire_at
    simulator.advance(6 * MINUTE_MS - 1)
    assert len(await active(api, client, account)) == 1
    simulator.advance(1)
    assert await active(api, client, account) == []


async def test_scheduled_cancel_all_under_five_minutes_ahead_is_refused(simulator, trader):
    # lighter-api.md §3.5 (window 5 min .. 15 days, lighter-go MinOrderCancelAllPeriod; 21714
    # "invalid cancel all time"): a switch armed exactly 5 minutes ahead by the client's clock
    # arrives with less than that left.
    client, _, _ = trader
    armed_at = _now_ms(simulator) + 5 * MINUTE_MS
    simulator.advance(50)  # the request's transit
    _, _, err = await client.cancel_all_orders(SCHEDULED, armed_at)
    assert err is not None and "21714" in err


async def test_dead_mans_switch_armed_ten_minutes_ahead_and_renewed_never_fires(simulator, trader):
    # lighter-api.md §3.5: re-arming replaces the scheduled time; arming 10 minutes ahead every
    # minute keeps the orders, and they go 10 minutes after the last renewal.
    client, api, account = trader
    _, bid = await best(api)
    await client.create_order(ETH, 81, 1000, bid - 500, False, LIMIT, GTT)
    for _ in range(3):
        _, _, err = await client.cancel_all_orders(SCHEDULED, _now_ms(simulator) + 10 * MINUTE_MS)
        assert err is None
        simulator.advance(MINUTE_MS)
    assert len(await active(api, client, account)) == 1
    simulator.advance(9 * MINUTE_MS)
    assert await active(api, client, account) == []
