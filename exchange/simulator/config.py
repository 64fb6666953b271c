"""Simulator configuration: markets, accounts, price paths, liquidity, latency, fees, limits.

Load with `SimConfig.from_dict(...)` or `load_config(path)`; every key is optional and defaults
to Lighter's real values (lighter-api.md §8). Money values in JSON are strings (Decimal).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from exchange.simulator.types import MarketSpec

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_config.json")
# Lighter's account tiers (lighter-api.md §8.2): fees and latencies differ per tier.
TIERS = frozenset({"standard", "premium"})


def default_markets() -> list[MarketSpec]:
    """ETH (0), BTC (1) and SOL (2) with Lighter's ids, decimals and minimums."""
    return [
        MarketSpec(0, "ETH", 4, 2, 50, Decimal("10"), Decimal("3000.00")),
        MarketSpec(1, "BTC", 5, 1, 20, Decimal("10"), Decimal("100000.0")),
        MarketSpec(
            2,
            "SOL",
            3,
            3,
            50,
            Decimal("10"),
            Decimal("150.000"),
            default_imf=1000,
            min_imf=400,
            maintenance_mf=240,
            closeout_mf=160,
        ),
    ]


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """A pre-funded account; `api_keys` maps key index to public key hex (no 0x)."""

    index: int
    l1_address: str
    collateral: Decimal
    api_keys: dict[int, str] = field(default_factory=dict)
    tier: str = "standard"


@dataclass(frozen=True, slots=True)
class PricePathConfig:
    """Reference-price path of one market: seeded GBM, CSV replay, or a flat line."""

    kind: str = "gbm"  # "gbm" | "csv" | "flat"
    drift: Decimal = Decimal(0)  # per year
    volatility: Decimal = Decimal("0.5")  # per sqrt(year)
    step_ms: int = 1000
    seed: int | None = None
    csv_path: str | None = None
    csv_column: str = "price"
    replay_speed: Decimal = Decimal(1)


@dataclass(frozen=True, slots=True)
class LiquidityConfig:
    """The background market maker: `levels` per side, `step_bps` apart, `size_quote` USDC each."""

    enabled: bool = True
    levels: int = 10
    step_bps: int = 5
    first_offset_bps: int = 5
    size_quote: Decimal = Decimal("5000")
    account_index: int = 281474976710000
    collateral: Decimal = Decimal("1000000000000")


@dataclass(frozen=True, slots=True)
class LatencyConfig:
    """Execution delay per tier in ms (lighter-api.md §4.2)."""

    standard_maker: int = 200
    standard_taker: int = 300
    standard_cancel: int = 200
    premium_maker: int = 0
    premium_taker: int = 200
    premium_cancel: int = 0

    def for_tier(self, tier: str, kind: str) -> int:
        """Latency of `kind` ("maker" | "taker" | "cancel") for `tier`."""
        prefix = "premium" if tier == "premium" else "standard"
        value: int = getattr(self, f"{prefix}_{kind}")
        return value


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """Request budgets per L1 address per minute (enforced by the server, not the engine)."""

    enabled: bool = True
    standard_per_minute: int = 60
    premium_weight_per_minute: int = 24000


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Whole simulator configuration. `latency_ms` (if set) overrides every tier's latency."""

    markets: list[MarketSpec] = field(default_factory=default_markets)
    accounts: list[AccountConfig] = field(default_factory=list)
    price_paths: dict[int, PricePathConfig] = field(default_factory=dict)
    liquidity: LiquidityConfig = field(default_factory=LiquidityConfig)
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    latency_ms: int | None = None
    funding_enabled: bool = True
    funding_clamp: Decimal = Decimal("0.005")
    liquidations_enabled: bool = True
    rate_limits: RateLimitConfig = field(default_factory=RateLimitConfig)
    seed: int = 0
    max_active_orders: int = 1000
    price_band: Decimal = Decimal("0.5")
    max_pending_txs: int = 10000
    twap_slice_ms: int = 30_000
    # Check every tx's Schnorr signature against the registered API key (signing.py). Off only
    # for engine-level tests and benchmarks that build tx_info without a real signer.
    verify_signatures: bool = True
    # Chain ids a signature may be made for (the SDK uses 304 for any non-Lighter URL); the
    # first one hashes txs when signatures are not verified.
    chain_ids: tuple[int, ...] = (304, 300, 466324)

    def market(self, market_id: int) -> MarketSpec | None:
        """The market with this id, if configured."""
        for spec in self.markets:
            if spec.market_id == market_id:
                return spec
        return None

    def latency_for(self, tier: str, kind: str) -> int:
        """Effective latency in ms of `kind` for `tier`, honouring the global override."""
        if self.latency_ms is not None:
            return self.latency_ms
        return self.latency.for_tier(tier, kind)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimConfig:
        """Build a config from plain JSON data; absent keys keep their defaults."""
        markets = default_markets()
        if "markets" in data:
            markets = [_market(m) for m in data["markets"]]
        accounts = [_account(a) for a in data.get("accounts", [])]
        paths = {int(k): _path(v) for k, v in data.get("price_paths", {}).items()}
        return cls(
            markets=markets,
            accounts=accounts,
            price_paths=paths,
            liquidity=_dc(LiquidityConfig, data.get("liquidity", {})),
            latency=_dc(LatencyConfig, data.get("latency", {})),
            latency_ms=data.get("latency_ms"),
            funding_enabled=bool(data.get("funding_enabled", True)),
            funding_clamp=Decimal(str(data.get("funding_clamp", "0.005"))),
            liquidations_enabled=bool(data.get("liquidations_enabled", True)),
            rate_limits=_dc(RateLimitConfig, data.get("rate_limits", {})),
            seed=int(data.get("seed", 0)),
            max_active_orders=int(data.get("max_active_orders", 1000)),
            price_band=Decimal(str(data.get("price_band", "0.5"))),
            max_pending_txs=int(data.get("max_pending_txs", 10000)),
            twap_slice_ms=int(data.get("twap_slice_ms", 30_000)),
            verify_signatures=bool(data.get("verify_signatures", True)),
            chain_ids=tuple(int(c) for c in data.get("chain_ids", (304, 300, 466324))),
        )


def load_config(path: str | Path | None = None) -> SimConfig:
    """Read a JSON config file (the packaged default_config.json when `path` is None)."""
    source = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    return SimConfig.from_dict(json.loads(source.read_text(encoding="utf-8")))


_DECIMAL_FIELDS = {
    "min_quote_amount",
    "initial_price",
    "order_quote_limit",
    "collateral",
    "drift",
    "volatility",
    "replay_speed",
    "size_quote",
}


def _coerce(key: str, value: Any) -> Any:
    if key in _DECIMAL_FIELDS:
        return Decimal(str(value))
    return value


def _dc(cls: Any, data: dict[str, Any]) -> Any:
    known = {name for name, f in cls.__dataclass_fields__.items() if f.init}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
    return cls(**{k: _coerce(k, v) for k, v in data.items()})


def _market(data: dict[str, Any]) -> MarketSpec:
    spec: MarketSpec = _dc(MarketSpec, data)
    return spec


def _account(data: dict[str, Any]) -> AccountConfig:
    keys = {int(k): str(v).removeprefix("0x") for k, v in data.get("api_keys", {}).items()}
    rest = {k: v for k, v in data.items() if k != "api_keys"}
    account: AccountConfig = _dc(AccountConfig, {**rest, "api_keys": keys})
    if account.tier not in TIERS:
        # A typo must not quietly make a premium paper account standard (no fees, slow).
        raise ValueError(f"account {account.index}: tier must be one of {sorted(TIERS)}")
    return account


def _path(data: dict[str, Any]) -> PricePathConfig:
    path: PricePathConfig = _dc(PricePathConfig, data)
    return path
