"""Three grid bots (BTC, ETH, SOL) on one account over a seeded price path with trends and
reversals, checked after every step: order counts, client indexes, fills, position caps,
centring, post-only rejections, and at the end PnL against the simulator's own books."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from bots.models import Fill, GridBot, Order
from bots.strategies.accounting import Fill as LedgerFill
from bots.strategies.accounting import summarize
from tests.bots.runner_support import (
    GRID_SHAPES,
    account_on,
    finish,
    grid_bot,
    quiet,
    set_desired,
    sim_mid,
    sim_open_orders,
    start_runners,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)

LEVELS = 4
MARKETS = {"ETH": (0, Decimal("3000")), "BTC": (1, Decimal("100000")), "SOL": (2, None)}
# Trend lengths in steps, alternating up and down, then a random walk.
LEGS = (6, -9, 4, -3, 7)
RANDOM_STEPS = 12


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url


def price_path(rng: random.Random, start: Decimal, step: Decimal) -> list[Decimal]:
    """Prices at grid-step scale: trends and reversals, then a seeded random walk."""
    moves: list[Decimal] = []
    for leg in LEGS:
        sign = 1 if leg > 0 else -1
        moves += [step * sign * Decimal(rng.choice(["0.6", "1.3", "2.2"])) for _ in range(abs(leg))]
    moves += [
        step * Decimal(rng.choice(["-2.5", "-1.2", "0.7", "1.1", "2.4"]))
        for _ in range(RANDOM_STEPS)
    ]
    prices, price = [], start
    for move in moves:
        price = price + move
        prices.append(price)
    return prices


def sim_reference(simulator, market_id: int) -> Decimal:
    def read() -> Decimal:
        state = simulator.engine.state
        return state.markets[market_id].units.price(state.reference[market_id])

    return simulator.call(read)


def sim_trades(simulator, account_index: int, market_id: int) -> set[int]:
    def read() -> set[int]:
        trades = simulator.engine.state.history.by_account.get(account_index, [])
        return {t.trade_id for t in trades if t.market_id == market_id}

    return simulator.call(read)


def sim_pnl(simulator, account_index: int, market_id: int) -> tuple[Decimal, Decimal]:
    """(position in base, realized + unrealized - fees) as the simulator books them."""
    from exchange.simulator.margin import unrealized_pnl

    def read() -> tuple[Decimal, Decimal]:
        state = simulator.engine.state
        spec = state.markets[market_id]
        pos = state.accounts[account_index].positions.get(market_id)
        if pos is None:
            return Decimal(0), Decimal(0)
        unreal = unrealized_pnl(spec, pos, state.reference[market_id])
        size = spec.units.size(pos.size) * pos.sign
        return size, pos.realized_pnl + unreal - pos.total_fees_paid

    return simulator.call(read)


def bot_fill_ids(bot: GridBot) -> list[int]:
    return list(Fill.objects.filter(bot=bot).values_list("trade_id", flat=True))


def post_only_rejections(bots: list[GridBot]) -> list[str]:
    rows = Order.objects.filter(bot__in=bots, reason__icontains="post")
    return [f"{o.market.symbol} {o.side} L{o.level_index} @ {o.price} {o.reason}" for o in rows]


async def test_three_bots_follow_a_trending_and_reversing_path_and_keep_every_invariant(
    simulator, funded_account
):
    account = await sync_to_async(account_on)(simulator, funded_account)
    bots = {s: await sync_to_async(grid_bot)(account, s, levels=LEVELS) for s in MARKETS}
    index = funded_account.index
    runners, tasks = await start_runners(list(bots.values()))
    rng = random.Random(20261121)
    paths = {
        s: price_path(rng, sim_reference(simulator, m), GRID_SHAPES[s]["step"])
        for s, (m, _) in MARKETS.items()
    }

    why: list[str] = []

    async def settled() -> bool:
        why.clear()
        if not all(quiet(r, simulator) for r in runners):
            why.append("runners busy")
            return False
        for symbol, (market_id, _) in MARKETS.items():
            orders = sim_open_orders(simulator, index, market_id)
            mid = sim_mid(simulator, market_id)
            step = GRID_SHAPES[symbol]["step"]
            buys = [o for o in orders if not o.is_ask]
            sells = [o for o in orders if o.is_ask]
            fills = await sync_to_async(bot_fill_ids)(bots[symbol])
            if set(fills) != sim_trades(simulator, index, market_id):
                why.append(f"{symbol} fills {fills} vs {sim_trades(simulator, index, market_id)}")
                return False
            if not buys or not sells or len(orders) != 2 * LEVELS:
                why.append(f"{symbol}: {len(buys)} buys {len(sells)} sells")
                return False
            units = simulator.call(lambda m=market_id: simulator.engine.state.markets[m].units)
            top_buy = units.price(max(o.price for o in buys))
            low_sell = units.price(min(o.price for o in sells))
            centre = (top_buy + low_sell) / 2
            if abs(centre - mid) > step or low_sell - top_buy > 2 * step:
                why.append(f"{symbol}: {top_buy} < {mid} < {low_sell}")
                return False
        return True

    await wait_until(settled, what="initial grids")
    for i in range(len(paths["ETH"])):
        for symbol, (market_id, _) in MARKETS.items():
            simulator.sim(
                "POST", "/sim/price", {"market_id": market_id, "price": str(paths[symbol][i])}
            )
        simulator.advance(1000)
        await wait_until(settled, what=lambda i=i: f"grids centred after step {i}: {why}")
        for symbol, (market_id, _) in MARKETS.items():
            orders = sim_open_orders(simulator, index, market_id)
            assert len(orders) <= 2 * LEVELS
            assert len({o.client_order_index for o in orders}) == len(orders)
            shape = GRID_SHAPES[symbol]
            position, _ = sim_pnl(simulator, index, market_id)
            price = sim_reference(simulator, market_id)
            assert abs(position) * price <= shape["cap"] + shape["size"] * price
        assert await sync_to_async(post_only_rejections)(list(bots.values())) == []

    for symbol, (market_id, _) in MARKETS.items():
        position, exchange_pnl = sim_pnl(simulator, index, market_id)
        fills = await sync_to_async(
            lambda b=bots[symbol]: list(
                Fill.objects.filter(bot=b).order_by("executed_at", "trade_id")
            )
        )()
        ledger = [
            LedgerFill(f.trade_id, f.side, f.price, f.size_base, f.fee, f.is_maker, f.level_index)
            for f in fills
        ]
        summary = summarize(ledger, [], sim_reference(simulator, market_id))
        assert summary.position_base == position
        assert abs(summary.total - exchange_pnl) <= Decimal("0.00001") * max(1, len(fills))
        # Every grid fill names its round trip: its own trade (it opened one) or an earlier fill's.
        ids = {f.trade_id for f in fills}
        assert all(f.round_trip_id in ids for f in fills if f.level_index is not None)
        assert any(f.round_trip_id != f.trade_id for f in fills), "no round trip closed"
    for bot in bots.values():
        await sync_to_async(set_desired)(bot, "stopped")
    assert [await finish(t) for t in tasks] == ["stopped"] * 3
