"""Fault rules: matching by kind and target, counts, probabilities replayed under a seed."""

import pytest

from exchange.simulator.faults import FaultConfigError, FaultInjector, FaultRule


def test_counted_rule_fires_exactly_count_times():
    faults = FaultInjector(seed=1)
    faults.add_rule(FaultRule.from_dict({"kind": "http_429", "target": "sendTx", "count": 2}))
    fired = [faults.fire("http_429", "sendTx") is not None for _ in range(4)]
    assert fired == [True, True, False, False]


def test_rule_only_matches_its_target_unless_wildcard():
    faults = FaultInjector()
    faults.add_rule(FaultRule(kind="http_5xx", target="account"))
    assert faults.fire("http_5xx", "sendTx") is None
    assert faults.fire("http_5xx", "account") is not None
    faults.set_rules([FaultRule(kind="http_5xx")])
    assert faults.fire("http_5xx", "sendTx") is not None


def test_probabilistic_rules_replay_identically_under_the_same_seed():
    def pattern(seed: int) -> list[bool]:
        faults = FaultInjector(seed=seed)
        faults.set_rules([FaultRule(kind="ws_drop", probability=0.5)])
        return [faults.fire("ws_drop", "order_book") is not None for _ in range(50)]

    assert pattern(7) == pattern(7)
    assert 0 < sum(pattern(7)) < 50
    assert pattern(7) != pattern(8)


def test_clear_switches_every_fault_off():
    faults = FaultInjector()
    faults.add_rule(FaultRule(kind="missed_pong"))
    faults.clear()
    assert not faults.active("missed_pong", "*")


@pytest.mark.parametrize(
    "data",
    [{"kind": "explode"}, {"kind": "http_429", "probability": 2}, {"kind": "latency", "x": 1}],
)
def test_malformed_rules_are_refused(data):
    with pytest.raises(FaultConfigError):
        FaultRule.from_dict(data)


# -- the switches through a running simulator and the real SDK ----------------------------------

ETH = 0


async def _sdk(simulator, account):
    from tests.plugins.simulator import api_client, signer_client

    return signer_client(simulator, account), api_client(simulator)


async def test_http_429_burst_surfaces_as_api_exception_then_clears(simulator, funded_account):
    import lighter

    client, api = await _sdk(simulator, funded_account)
    simulator.faults({"kind": "http_429", "target": "orderBooks", "count": 2})
    order_api = lighter.OrderApi(api)
    statuses = []
    for _ in range(3):
        try:
            await order_api.order_books()
            statuses.append(200)
        except lighter.ApiException as exc:
            statuses.append(exc.status)
    await client.close()
    await api.close()
    assert statuses == [429, 429, 200]


async def test_http_5xx_surfaces_as_service_exception(simulator, funded_account):
    import lighter

    client, api = await _sdk(simulator, funded_account)
    simulator.faults({"kind": "http_5xx", "target": "account", "count": 1})
    with pytest.raises(lighter.exceptions.ServiceException):
        await lighter.AccountApi(api).account(by="index", value=str(funded_account.index))
    await client.close()
    await api.close()


async def test_tx_never_executed_is_accepted_but_leaves_no_trace(simulator, funded_account):
    import lighter

    client, api = await _sdk(simulator, funded_account)
    simulator.faults({"kind": "tx_never_executed", "target": "sendTx", "count": 1})
    tx_api = lighter.TransactionApi(api)
    before = (await tx_api.next_nonce(account_index=funded_account.index, api_key_index=3)).nonce
    _, reply, err = await client.create_order(ETH, 1, 1000, 250000, False, 0, 1)
    after = (await tx_api.next_nonce(account_index=funded_account.index, api_key_index=3)).nonce
    assert err is None and reply.code == 200
    assert after == before  # never reached the sequencer: nonce not consumed
    assert simulator.call(lambda: simulator.engine.active_orders(funded_account.index)) == []
    await client.close()
    await api.close()


async def test_partial_fill_fault_halves_a_market_order(simulator, funded_account):
    client, api = await _sdk(simulator, funded_account)
    simulator.faults({"kind": "partial_fill", "count": 1})
    await client.create_market_order(ETH, 2, 2000, 400000, False)
    position = simulator.call(
        lambda: simulator.engine.account(funded_account.index).positions[ETH].size
    )
    assert position == 1000
    await client.close()
    await api.close()


async def test_stale_book_fault_freezes_book_deltas(simulator, funded_account):
    from tests.plugins.simulator import ws_connect

    client, api = await _sdk(simulator, funded_account)
    async with ws_connect(simulator) as probe:
        await probe.send({"type": "subscribe", "channel": "order_book/0"})
        await probe.expect_type("subscribed/order_book")
        simulator.faults({"kind": "stale_book", "target": "order_book:0"})
        await client.create_order(ETH, 3, 1000, 250000, False, 0, 1)
        frozen = simulator.call(lambda: simulator.server.feeds.books[ETH].nonce)
        await client.create_order(ETH, 4, 1000, 249900, False, 0, 1)
        simulator.run(simulator.server.feeds.tick)  # a tick that would have sent the delta
        still = simulator.call(lambda: simulator.server.feeds.books[ETH].nonce)
        simulator.faults()
        update = await probe.expect_type("update/order_book")
    await client.close()
    await api.close()
    assert frozen == still
    prices = {level["price"] for level in update["order_book"]["bids"]}
    assert {"2500.00", "2499.00"} <= prices
