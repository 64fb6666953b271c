"""SimConfig: defaults match Lighter's markets, JSON loading, latency override."""

import json
from decimal import Decimal

import pytest

from exchange.simulator.config import SimConfig, load_config
from exchange.simulator.engine import Engine
from exchange.simulator.types import SimError


def test_default_markets_use_lighters_ids_and_decimals():
    config = SimConfig()
    rows = {m.symbol: (m.market_id, m.size_decimals, m.price_decimals) for m in config.markets}
    assert rows == {"ETH": (0, 4, 2), "BTC": (1, 5, 1), "SOL": (2, 3, 3)}
    assert config.market(0).min_base_amount == 50  # 0.0050 ETH
    assert config.market(2).default_imf == 1000


def test_packaged_default_config_loads_and_builds_an_engine():
    config = load_config()
    engine = Engine(config, now_ms=1_790_000_000_000)
    assert set(config.price_paths) == {0, 1, 2}
    asks, bids = engine.book_levels(1)
    assert asks and bids


def test_from_dict_reads_accounts_paths_and_money_as_decimal(tmp_path):
    data = {
        "seed": 9,
        "latency_ms": 0,
        "accounts": [
            {"index": 5, "l1_address": "0xabc", "collateral": "1234.5", "api_keys": {"3": "0xAB"}}
        ],
        "price_paths": {"0": {"kind": "gbm", "volatility": "0.9", "step_ms": 250}},
        "liquidity": {"enabled": False},
        "markets": [
            {"market_id": 7, "symbol": "DOGE", "size_decimals": 0, "price_decimals": 6,
             "min_base_amount": 10, "min_quote_amount": "10", "initial_price": "0.2"}
        ],
    }  # fmt: skip
    path = tmp_path / "sim.json"
    path.write_text(json.dumps(data), encoding="utf-8")

    config = load_config(path)

    assert config.accounts[0].collateral == Decimal("1234.5")
    assert config.accounts[0].api_keys == {3: "AB"}
    assert config.price_paths[0].volatility == Decimal("0.9")
    assert config.market(7).initial_price == Decimal("0.2")
    engine = Engine(config, now_ms=0)
    assert engine.api_keys(5)[0].public_key_hex == "ab"
    assert engine.mark_price(7) == 200000


def test_unknown_keys_are_errors():
    with pytest.raises(ValueError, match="unknown LiquidityConfig keys"):
        SimConfig.from_dict({"liquidity": {"levelz": 3}})


@pytest.mark.parametrize(
    ("tier", "kind", "latency"),
    [("standard", "maker", 200), ("standard", "taker", 300), ("standard", "cancel", 200),
     ("premium", "maker", 0), ("premium", "taker", 200), ("premium", "cancel", 0)],
)  # fmt: skip
def test_latency_per_tier_and_kind(tier, kind, latency):
    assert SimConfig().latency_for(tier, kind) == latency


def test_latency_override_applies_to_every_tier():
    assert SimConfig(latency_ms=0).latency_for("standard", "taker") == 0


def test_an_unknown_account_tier_is_refused_not_made_standard():
    # lighter-api.md §8.2 knows two tiers; a typo must not silently drop premium fees/latency.
    with pytest.raises(ValueError, match="tier must be one of"):
        SimConfig.from_dict({"accounts": [{"index": 5, "l1_address": "0xa", "collateral": "1",
                                           "tier": "premum"}]})  # fmt: skip
    engine = Engine(SimConfig(), now_ms=0)
    with pytest.raises(SimError) as refused:
        engine.add_account("0xb", Decimal(1), tier="gold")
    assert refused.value.code == 62002
    assert engine.add_account("0xc", Decimal(1), tier="premium").tier == "premium"
