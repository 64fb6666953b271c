"""The request budget: 60 per minute for standard accounts, weights for premium, off switch."""

import json

import pytest

from exchange.simulator.ratelimit import RequestBudget, endpoint_weight


def test_standard_tier_allows_sixty_requests_per_rolling_minute():
    budget = RequestBudget(enabled=True)
    allowed = [
        budget.charge("0xabc", tier="standard", endpoint="sendTx", now_ms=1_000 + i)
        for i in range(61)
    ]
    assert allowed == [True] * 60 + [False]


def test_budget_refills_once_the_window_has_passed():
    budget = RequestBudget(enabled=True, standard_per_minute=1)
    assert budget.charge("k", tier="standard", endpoint="account", now_ms=0)
    assert not budget.charge("k", tier="standard", endpoint="account", now_ms=59_999)
    assert budget.charge("k", tier="standard", endpoint="account", now_ms=60_000)


def test_budgets_are_separate_per_key():
    budget = RequestBudget(enabled=True, standard_per_minute=1)
    assert budget.charge("a", tier="standard", endpoint="account", now_ms=0)
    assert budget.charge("b", tier="standard", endpoint="account", now_ms=0)


def test_premium_tier_spends_endpoint_weights():
    budget = RequestBudget(enabled=True, premium_weight_per_minute=1_200)
    assert endpoint_weight("trades") == 600
    assert budget.charge("p", tier="premium", endpoint="trades", now_ms=0)
    assert budget.charge("p", tier="premium", endpoint="trades", now_ms=1)
    assert not budget.charge("p", tier="premium", endpoint="sendTx", now_ms=2)


def test_disabled_budget_lets_everything_through():
    budget = RequestBudget(enabled=False, standard_per_minute=0)
    assert budget.charge("k", tier="standard", endpoint="sendTx", now_ms=0)


# -- through a running simulator ----------------------------------------------------------------


def test_budget_refills_after_a_minute_of_simulated_time(simulator):
    import urllib.error
    import urllib.request

    simulator.ratelimit(enabled=True, standard_per_minute=1)
    url = simulator.base_url + "/api/v1/orderBooks"
    urllib.request.urlopen(url, timeout=5).close()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 429
    assert json.loads(refused.value.read()) == {"code": 23000, "message": "Too Many Requests!"}
    simulator.advance(60_000)
    with urllib.request.urlopen(url, timeout=5) as reply:
        assert reply.status == 200
