"""Helpers that drive an Engine like a client would: tx_info builders and benchmark workloads.

`TxBuilder` produces the same tx_info dicts the Lighter signer emits (lighter-api.md §3), with
nonces tracked per builder. Used by tests, demos and bench/sim_throughput.py (in-process figure).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from exchange.simulator.config import LiquidityConfig, SimConfig
from exchange.simulator.engine import Engine
from exchange.simulator.types import Order, TxRecord

TEN_MINUTES_MS = 600_000
DAY_MS = 86_400_000


class TxBuilder:
    """Builds signed-looking tx_info dicts for one (account, API key); Sig is a placeholder, so
    the engine must run with `verify_signatures=False` (see quiet_config)."""

    def __init__(self, engine: Engine, account_index: int, api_key_index: int = 3) -> None:
        self.engine = engine
        self.account_index = account_index
        self.api_key_index = api_key_index
        self.nonce = engine.next_nonce(account_index, api_key_index)

    def _envelope(self, fields: dict[str, Any], attrs: dict[str, int] | None) -> dict[str, Any]:
        info = {"AccountIndex": self.account_index, "ApiKeyIndex": self.api_key_index, **fields}
        info["ExpiredAt"] = self.engine.now_ms + TEN_MINUTES_MS
        info["Nonce"] = self.nonce
        info["Sig"] = "c2ltdWxhdGVk"
        info["L2TxAttributes"] = attrs or None
        self.nonce += 1
        return info

    @staticmethod
    def order_fields(
        market_id: int,
        client_order_index: int,
        base_amount: int,
        price: int,
        *,
        is_ask: bool,
        order_type: int = 0,
        tif: int = 1,
        reduce_only: bool = False,
        trigger_price: int = 0,
        order_expiry: int | None = None,
        now_ms: int = 0,
    ) -> dict[str, Any]:
        """The order fields of CreateOrder / one order of CreateGroupedOrders."""
        if order_expiry is None:
            immediate = order_type == 1 or (tif == 0 and order_type in (0,))
            order_expiry = 0 if immediate else now_ms + 28 * DAY_MS
        return {
            "MarketIndex": market_id,
            "ClientOrderIndex": client_order_index,
            "BaseAmount": base_amount,
            "Price": price,
            "IsAsk": int(is_ask),
            "Type": order_type,
            "TimeInForce": tif,
            "ReduceOnly": int(reduce_only),
            "TriggerPrice": trigger_price,
            "OrderExpiry": order_expiry,
        }

    def create_order(
        self,
        market_id: int,
        client_order_index: int,
        base_amount: int,
        price: int,
        *,
        is_ask: bool,
        attrs: dict[str, int] | None = None,
        **kwargs: Any,
    ) -> tuple[int, dict[str, Any]]:
        """(14, tx_info) of a CreateOrder."""
        fields = self.order_fields(
            market_id, client_order_index, base_amount, price, is_ask=is_ask,
            now_ms=self.engine.now_ms, **kwargs,
        )  # fmt: skip
        return 14, self._envelope(fields, attrs)

    def cancel_order(self, market_id: int, index: int) -> tuple[int, dict[str, Any]]:
        """(15, tx_info) of a CancelOrder by client or exchange index."""
        return 15, self._envelope({"MarketIndex": market_id, "Index": index}, None)

    def cancel_all(
        self, tif: int = 0, time_ms: int = 0, market_id: int | None = None
    ) -> tuple[int, dict[str, Any]]:
        """(16, tx_info) of CancelAllOrders (0 immediate, 1 scheduled, 2 abort)."""
        attrs = {"5": market_id} if market_id is not None else None
        return 16, self._envelope({"TimeInForce": tif, "Time": time_ms}, attrs)

    def modify_order(
        self,
        market_id: int,
        index: int,
        base_amount: int,
        price: int,
        trigger_price: int = 0,
        version: int = 0,
    ) -> tuple[int, dict[str, Any]]:
        """(17, tx_info) of a ModifyOrder (`version` > 0 sets attribute "8")."""
        fields = {
            "MarketIndex": market_id,
            "Index": index,
            "BaseAmount": base_amount,
            "Price": price,
            "TriggerPrice": trigger_price,
        }
        return 17, self._envelope(fields, {"8": version} if version else None)

    def grouped(self, grouping: int, orders: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        """(28, tx_info) of CreateGroupedOrders."""
        return 28, self._envelope({"GroupingType": grouping, "Orders": orders}, None)

    def update_leverage(
        self, market_id: int, imf: int, margin_mode: int = 0
    ) -> tuple[int, dict[str, Any]]:
        """(20, tx_info) of UpdateLeverage."""
        fields = {"MarketIndex": market_id, "InitialMarginFraction": imf, "MarginMode": margin_mode}
        return 20, self._envelope(fields, None)

    def update_margin(
        self, market_id: int, usdc_micros: int, direction: int
    ) -> tuple[int, dict[str, Any]]:
        """(29, tx_info) of UpdateMargin (direction 1 add, 0 remove)."""
        fields = {"MarketIndex": market_id, "USDCAmount": usdc_micros, "Direction": direction}
        return 29, self._envelope(fields, None)

    def change_pub_key(self, pub_key_b64: str) -> tuple[int, dict[str, Any]]:
        """(8, tx_info) of ChangePubKey for this builder's key index."""
        return 8, self._envelope({"PubKey": pub_key_b64, "L1Sig": "0x00"}, None)

    def create_sub_account(self) -> tuple[int, dict[str, Any]]:
        """(9, tx_info) of CreateSubAccount."""
        return 9, self._envelope({}, None)

    def withdraw(self, usdc_micros: int) -> tuple[int, dict[str, Any]]:
        """(13, tx_info) of a USDC withdrawal."""
        info = self._envelope({"AssetIndex": 3, "RouteType": 0, "Amount": usdc_micros}, None)
        info["FromAccountIndex"] = info.pop("AccountIndex")
        return 13, info

    def send(self, tx: tuple[int, dict[str, Any]], *, price_protection: bool = True) -> TxRecord:
        """Submit one tx at the engine's current time."""
        return self.engine.submit_tx(
            tx[0], tx[1], now_ms=self.engine.now_ms, price_protection=price_protection
        )


def bench_engine(now_ms: int = 1_790_000_000_000) -> Engine:
    """An engine for throughput runs: no latency, no liquidity agent, flat prices, no funding."""
    config = SimConfig(
        latency_ms=0,
        liquidity=LiquidityConfig(enabled=False),
        funding_enabled=False,
        max_active_orders=10**7,
        max_pending_txs=10**7,
        verify_signatures=False,
    )
    return Engine(config, now_ms=now_ms)


def crossing_orders(engine: Engine, n: int, *, market_id: int = 0) -> int:
    """Submit n resting asks from one account and n crossing IOC buys from another, through
    submit_tx + advance (the full tx path). Returns the number of trades (matching operations).
    """
    spec = engine.market(market_id)
    price = engine.mark_price(market_id)
    maker_acc = engine.add_account("0xbench-maker", Decimal(10**12), {3: "00" * 40})
    taker_acc = engine.add_account("0xbench-taker", Decimal(10**12), {3: "00" * 40})
    maker = TxBuilder(engine, maker_acc.index)
    taker = TxBuilder(engine, taker_acc.index)
    lots = spec.min_base_amount * 10
    trades_before = len(engine.state.history.trades)
    for i in range(n):
        maker.send(maker.create_order(market_id, 0, lots, price + i % 50, is_ask=True))
        engine.advance(engine.now_ms)
        taker.send(taker.create_order(market_id, 0, lots, price + 100, is_ask=False, tif=0))
        engine.advance(engine.now_ms)
    return len(engine.state.history.trades) - trades_before


def prepare_sweep(engine: Engine, n: int, *, market_id: int = 0) -> Callable[[], int]:
    """Rest n minimum-size asks (one account), and return a function that sweeps them all with
    one market buy through submit_tx + advance, returning the number of trades.

    Timing the returned function measures the matching loop: one matching operation per fill.
    """
    spec = engine.market(market_id)
    price = engine.mark_price(market_id)
    maker_acc = engine.add_account("0xsweep-maker", Decimal(10**12), {3: "00" * 40})
    taker_acc = engine.add_account("0xsweep-taker", Decimal(10**12), {3: "00" * 40})
    maker = TxBuilder(engine, maker_acc.index)
    taker = TxBuilder(engine, taker_acc.index)
    lots = spec.min_base_amount
    for i in range(n):
        maker.send(maker.create_order(market_id, 0, lots, price + i % 1000, is_ask=True))
        if i % 1000 == 999:
            engine.advance(engine.now_ms)
    engine.advance(engine.now_ms)
    sweep = taker.create_order(market_id, 0, lots * n, price * 2, is_ask=False, order_type=1, tif=0)

    def run() -> int:
        trades_before = len(engine.state.history.trades)
        taker.send(sweep, price_protection=False)
        engine.advance(engine.now_ms)
        return len(engine.state.history.trades) - trades_before

    return run


def quiet_config(**overrides: Any) -> SimConfig:
    """A config for tests: zero latency, no liquidity agent, no funding, flat prices, and no
    signature checks (TxBuilder's tx_info carries a placeholder Sig)."""
    settings: dict[str, Any] = {
        "latency_ms": 0,
        "liquidity": LiquidityConfig(enabled=False),
        "funding_enabled": False,
        "verify_signatures": False,
    }
    settings.update(overrides)
    return SimConfig(**settings)


class Trader(TxBuilder):
    """A funded account plus its TxBuilder, sending txs and advancing the engine at once."""

    @classmethod
    def open(
        cls,
        engine: Engine,
        collateral: Decimal | str = "100000",
        *,
        tier: str = "standard",
        l1_address: str | None = None,
    ) -> Trader:
        """Create a funded account with API key 3 and return its trader."""
        count = len(engine.state.accounts)
        address = l1_address or f"0x{count:040x}"
        account = engine.add_account(address, Decimal(collateral), {3: "ab" * 40}, tier=tier)
        return cls(engine, account.index)

    def run(self, tx: tuple[int, dict[str, Any]], *, price_protection: bool = True) -> TxRecord:
        """Send one tx and advance the engine to now, so a zero-latency tx has executed."""
        record = self.send(tx, price_protection=price_protection)
        self.engine.advance(self.engine.now_ms)
        return record

    def order(self, index: int) -> Order | None:
        """This account's order by client or exchange index."""
        return self.engine.order(self.account_index, index)

    def position(self, market_id: int) -> int:
        """Signed position size in lots."""
        pos = self.engine.account(self.account_index).positions.get(market_id)
        return pos.signed_size if pos else 0
