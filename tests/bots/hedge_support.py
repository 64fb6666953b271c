"""Shared setup of the hedge runner tests: a hedge bot on two simulator accounts, the positions
and collateral read from the simulator's engine, and the trades that fill A (a price move, a
counterparty's order)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async

from bots.models import ExchangeAccount, HedgeBot, Market
from exchange.orders import OrderRequest
from exchange.types import OrderSide
from tests.bots.runner_support import sim_open_orders, wait_until
from tests.lighterweb.factories import make_hedge_bot

ETH = 0


def hedge_bot(
    maker: ExchangeAccount, taker: ExchangeAccount, *, running: bool = True, **overrides: Any
) -> HedgeBot:
    """A hedge bot on ETH, 0.01 per cycle, one cycle; running-desired with lease fence 1 (a
    runner driven in-process), or stopped with fence 0 (started by `services.bot_start`)."""
    market = Market.objects.get(network=maker.network, symbol="ETH")
    fields = {"size": Decimal("0.01"), "hold_min_ms": 50, "cycles": 1, "hedge_timeout_ms": 3000}
    bot = make_hedge_bot(maker, taker, market, **(fields | overrides))
    if running:
        HedgeBot.objects.filter(pk=bot.pk).update(desired_state="running", lease_fence=1)
    bot.refresh_from_db()
    return bot


def sim_position(simulator: Any, account_index: int) -> Decimal:
    """The account's signed ETH position, read from the simulator's engine."""

    def read() -> Decimal:
        state = simulator.engine.state
        account = state.accounts[account_index]
        position = account.positions.get(ETH)
        if position is None:
            return Decimal(0)
        size: Decimal = position.sign * state.markets[ETH].units.size(position.size)
        return size

    result: Decimal = simulator.call(read)
    return result


def sim_collateral(simulator: Any, account_index: int) -> Decimal:
    result: Decimal = simulator.call(
        lambda: simulator.engine.state.accounts[account_index].collateral
    )
    return result


def resting_price(simulator: Any, account_index: int) -> Decimal:
    """The price of the account's one resting ETH order."""
    (order,) = sim_open_orders(simulator, account_index, ETH)
    result: Decimal = simulator.call(
        lambda: simulator.engine.state.markets[ETH].units.price(order.price)
    )
    return result


async def fill_resting(simulator: Any, account_index: int) -> None:
    """Move the price through A's resting order so it fills."""
    price_through(simulator, account_index)


def price_through(simulator: Any, account_index: int) -> None:
    """Move the price through the account's one resting order so it fills."""
    price = resting_price(simulator, account_index)
    (order,) = sim_open_orders(simulator, account_index, ETH)
    target = price - Decimal("2") if not order.is_ask else price + Decimal("2")
    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": str(target)})
    simulator.advance(1000)


async def trade_against(
    simulator: Any, account: ExchangeAccount, side: str, size: str, price: Decimal
) -> None:
    """Another account's IOC order at `price` (a counterparty, or an operator's manual trade)."""
    (index,) = await sync_to_async(account.allocate_client_order_indexes)(1)
    async with account.client() as client:
        await client.place_order(ETH, OrderSide(side), Decimal(size), price, index, ioc=True)
    simulator.advance(100)


async def sell_into_batched(
    simulator: Any, account: ExchangeAccount, size: Decimal, price: Decimal
) -> None:
    """A counterparty sells `size` into A's bid at `price` (IOC) in a `sendTxBatch` together
    with a far ask that never trades: a fault aimed at `sendTx` (the runner's single
    transactions) then never hits the counterparty instead."""
    first, second = await sync_to_async(account.allocate_client_order_indexes)(2)
    ioc = OrderRequest(OrderSide.SELL, size, price, first, ioc=True)
    far = OrderRequest(OrderSide.SELL, Decimal("0.01"), price + 50, second, post_only=True)
    async with account.client() as client:
        await client.place_orders(ETH, [ioc, far])
    simulator.advance(100)


async def _async(value: bool) -> bool:
    return value


def a_resting(simulator: Any, account_index: int) -> Callable[[], Awaitable[bool]]:
    """A `wait_until` condition: exactly one order of A rests."""
    return lambda: _async(len(sim_open_orders(simulator, account_index, ETH)) == 1)


async def wait_positions(
    simulator: Any, runner: Any, maker_index: int, taker_index: int, a: str, b: str
) -> None:
    """Wait until the simulator holds A at `a` and B at `b`."""
    await wait_until(
        lambda: _async(
            (sim_position(simulator, maker_index), sim_position(simulator, taker_index))
            == (Decimal(a), Decimal(b))
        ),
        what=lambda: (
            f"A {a} / B {b}; are A {sim_position(simulator, maker_index)}, "
            f"B {sim_position(simulator, taker_index)}, state {runner.strategy.snapshot().state}"
        ),
    )
