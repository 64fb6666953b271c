"""The positions page's services against the simulator through the real SDK (README "Positions"):
a close is judged by the position read back, a thin book is taken in chunks within the worst
price, a bot's part is not closed under it, and TP/SL are the venue's position-tied orders."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from bots import ownership, positions
from bots.engine.controls import exchange_run
from bots.models import (
    BotEvent,
    DesiredState,
    ExchangeAccount,
    Fill,
    GridBot,
    Market,
    PositionTransfer,
)
from exchange.types import OrderSide
from tests.lighterweb.factories import make_account, make_bot, make_market
from tests.plugins.simulator import TEST_CONFIG, RunningSimulator, SimAccount, run_simulator

pytestmark = pytest.mark.django_db

ETH = 0


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url
    settings.CELERY_BROKER_URL = redis_url


def account_on(simulator: RunningSimulator, sim_account: SimAccount) -> ExchangeAccount:
    account = make_account(
        base_url_override=simulator.base_url,
        tier="premium",
        account_index=sim_account.index,
        api_key_index=sim_account.api_key_index,
        l1_address=sim_account.l1_address,
    )
    account.set_api_private_key(sim_account.private_key)
    account.save()
    return account


def eth() -> Market:
    return Market.objects.filter(network="paper", market_id=ETH).first() or make_market(
        last_price=Decimal("3000")
    )


def open_position(account: ExchangeAccount, side: OrderSide, size: str) -> Decimal:
    """Trade a position at market; returns the signed size the exchange reports."""
    [index] = account.allocate_client_order_indexes(1)

    async def trade() -> Decimal:
        async with account.client() as client:
            ticket = await client.market_order(ETH, side, Decimal(size), index)
            await client.resolve(ticket, 5.0, final=True)
            position = (await client.account()).position(ETH)
            return Decimal(0) if position is None else position.signed_size

    return exchange_run(account, trade)


def rest_order(account: ExchangeAccount, side: OrderSide, size: str, price: str) -> None:
    """A resting limit order (GTT) of `account`."""
    [index] = account.allocate_client_order_indexes(1)

    async def place() -> None:
        async with account.client() as client:
            ticket = await client.place_order(ETH, side, Decimal(size), Decimal(price), index)
            await client.resolve(ticket, 5.0)

    exchange_run(account, place)


def trade_limit(account: ExchangeAccount, side: OrderSide, size: str, price: str) -> Decimal:
    """An IOC limit order; returns the signed position after it."""
    [index] = account.allocate_client_order_indexes(1)

    async def trade() -> Decimal:
        async with account.client() as client:
            ticket = await client.place_order(
                ETH, side, Decimal(size), Decimal(price), index, ioc=True
            )
            await client.resolve(ticket, 5.0, final=True)
            position = (await client.account()).position(ETH)
            return Decimal(0) if position is None else position.signed_size

    return exchange_run(account, trade)


def own(bot: GridBot, size: str) -> None:
    """The bot bought `size` ETH (its own position, bots.ownership)."""
    Fill.objects.create(
        account=bot.account, market=bot.market, bot=bot, trade_id=1, side="buy",
        price=Decimal("3000"), size_base=Decimal(size), fee=Decimal(0), is_maker=True,
        executed_at=timezone.now(),
    )  # fmt: skip


def venue_position(account: ExchangeAccount) -> Decimal:
    """The position as the simulator reports it now (an independent read-back)."""

    async def read() -> Decimal:
        async with account.client() as client:
            position = (await client.account()).position(ETH)
            return Decimal(0) if position is None else position.signed_size

    return exchange_run(account, read)


def test_the_read_shows_size_entry_mark_liquidation_and_owners(simulator, funded_account):
    account = account_on(simulator, funded_account)
    bot = make_bot(account, eth(), name="grid-a")
    own(bot, "0.1")
    assert open_position(account, OrderSide.BUY, "0.3") == Decimal("0.3")

    [row] = positions.account_positions(account)

    assert (row.symbol, row.size, row.side) == ("ETH", Decimal("0.3"), "long")
    assert Decimal("2990") < row.entry_price < Decimal("3010")
    assert Decimal("2990") < row.mark_price < Decimal("3010")
    assert row.leverage > 0 and row.margin_mode in ("cross", "isolated")
    assert [(o.name, o.size) for o in row.owners] == [("grid-a", Decimal("0.1"))]
    assert row.unattributed == Decimal("0.2")


def test_a_paper_position_is_closed_flat_and_verified(simulator, funded_account):
    account = account_on(simulator, funded_account)
    bot = make_bot(account, eth())
    assert open_position(account, OrderSide.SELL, "0.5") == Decimal("-0.5")

    outcome = positions.position_close(account, ETH, actor="alice", confirm=True)

    assert outcome.status == "closed"
    assert (outcome.initial_size, outcome.remaining_size) == (Decimal("-0.5"), Decimal(0))
    assert venue_position(account) == 0
    assert all(c.average_price <= outcome.worst_price for c in outcome.chunks)
    event = BotEvent.objects.get(bot=bot, kind="position_close")
    assert "closed" in event.message and "alice" in event.message


def test_a_flat_account_closes_nothing(simulator, funded_account):
    account = account_on(simulator, funded_account)

    outcome = positions.position_close(account, ETH, actor="alice", confirm=True)

    assert (outcome.status, outcome.chunks, outcome.reason) == ("closed", [], "no position")


@pytest.fixture
def thin_simulator() -> Iterator[RunningSimulator]:
    """Real clock, a price that moves every 50 ms (the maker requotes at each move) and a book
    of 3 levels of 400 USDC a side: about 0.4 ETH within 1 %."""
    config: dict[str, Any] = copy.deepcopy(TEST_CONFIG)
    config["price_paths"]["0"] = {"kind": "gbm", "step_ms": 50, "volatility": "0.5"}
    config["liquidity"] = {"enabled": True, "levels": 3, "step_bps": 5, "size_quote": "400"}
    yield from run_simulator(config, manual_clock=False)


def test_a_thin_book_is_closed_in_several_chunks_within_the_worst_price(thin_simulator):
    account = account_on(thin_simulator, thin_simulator.create_account(tier="premium"))
    eth()
    # The position comes from a counterparty's resting sell inside the spread, not the thin book.
    maker = account_on(thin_simulator, thin_simulator.create_account(tier="premium"))
    rest_order(maker, OrderSide.SELL, "0.9", "3000")
    size = trade_limit(account, OrderSide.BUY, "0.9", "3000")
    assert size == Decimal("0.9")

    outcome = positions.position_close(
        account, ETH, actor="alice", confirm=True, max_slippage=Decimal("0.01")
    )

    assert outcome.status == "closed", outcome
    assert len(outcome.chunks) >= 2
    assert all(c.size <= Decimal("0.5") for c in outcome.chunks)
    assert all(c.average_price >= outcome.worst_price for c in outcome.chunks if c.filled)
    assert venue_position(account) == 0


def test_a_limit_close_never_trades_beyond_its_price(simulator, funded_account):
    account = account_on(simulator, funded_account)
    eth()
    open_position(account, OrderSide.BUY, "0.2")

    # Nothing bids at 3100 or above: nothing may trade, the position stays as it was.
    outcome = positions.position_close(
        account, ETH, actor="alice", confirm=True, worst_price=Decimal("3100")
    )

    assert outcome.status == "failed"
    assert "no liquidity within the worst price 3100" in outcome.reason
    assert venue_position(account) == Decimal("0.2")


def test_a_close_is_refused_while_a_running_bot_owns_part_of_it(simulator, funded_account):
    account = account_on(simulator, funded_account)
    bot = make_bot(account, eth(), name="live-grid", desired_state=DesiredState.RUNNING)
    own(bot, "0.1")
    open_position(account, OrderSide.BUY, "0.1")

    with pytest.raises(positions.PositionActionRefused) as refused:
        positions.position_close(account, ETH, actor="alice", confirm=True)

    assert refused.value.status == 409 and refused.value.field == "include_bots"
    assert "live-grid" in str(refused.value)
    assert venue_position(account) == Decimal("0.1")


def test_an_unconfirmed_close_is_refused_before_anything_trades(simulator, funded_account):
    account = account_on(simulator, funded_account)
    open_position(account, OrderSide.BUY, "0.1")

    with pytest.raises(positions.PositionActionRefused) as refused:
        positions.position_close(account, ETH, actor="alice", confirm=False)

    assert (refused.value.status, refused.value.field) == (400, "confirm")
    assert venue_position(account) == Decimal("0.1")


def test_including_the_bots_stops_them_first_and_books_their_part_out(simulator, funded_account):
    account = account_on(simulator, funded_account)
    bot = make_bot(account, eth(), name="live-grid", desired_state=DesiredState.RUNNING)
    own(bot, "0.1")
    open_position(account, OrderSide.BUY, "0.15")

    outcome = positions.position_close(account, ETH, actor="alice", confirm=True, include_bots=True)

    assert outcome.status == "closed" and outcome.bots_stopped == [bot.pk]
    bot.refresh_from_db()
    assert bot.desired_state == DesiredState.STOPPED
    assert venue_position(account) == 0
    assert ownership.bot_position(bot.pk) == 0
    transfer = PositionTransfer.objects.get(bot=bot)
    assert transfer.size_base == Decimal("-0.1") and "alice" in transfer.note


def test_a_take_profit_rests_on_the_venue_and_fires_leaving_the_position_flat(
    simulator, funded_account
):
    account = account_on(simulator, funded_account)
    bot = make_bot(account, eth())
    open_position(account, OrderSide.BUY, "0.2")

    [tp] = positions.position_trigger_place(
        account, ETH, actor="alice", confirm=True, take_profit=Decimal("3100")
    )

    assert (tp.kind, tp.trigger_price) == ("take_profit", Decimal("3100"))
    [row] = positions.account_positions(account)
    assert [t.order_index for t in row.triggers] == [tp.order_index]
    assert BotEvent.objects.filter(bot=bot, kind="position_tpsl").exists()

    simulator.sim("POST", "/sim/price", {"market_id": ETH, "price": "3150"})
    simulator.advance(100)

    assert venue_position(account) == 0
    assert positions.account_positions(account) == []


def test_a_tp_and_sl_pair_is_shown_and_each_can_be_cancelled(simulator, funded_account):
    account = account_on(simulator, funded_account)
    eth()
    open_position(account, OrderSide.SELL, "0.2")

    placed = positions.position_trigger_place(
        account, ETH, actor="alice", confirm=True,
        take_profit=Decimal("2900"), stop_loss=Decimal("3100"),
    )  # fmt: skip

    assert sorted(t.kind for t in placed) == ["stop_loss", "take_profit"]
    stop = next(t for t in placed if t.kind == "stop_loss")
    positions.position_trigger_cancel(account, ETH, stop.order_index, actor="alice", confirm=True)
    [row] = positions.account_positions(account)
    assert [t.kind for t in row.triggers] == ["take_profit"]


def test_a_take_profit_on_the_wrong_side_of_the_mark_names_the_field(simulator, funded_account):
    account = account_on(simulator, funded_account)
    eth()
    open_position(account, OrderSide.BUY, "0.1")

    with pytest.raises(positions.PositionActionRefused) as refused:
        positions.position_trigger_place(
            account, ETH, actor="alice", confirm=True, take_profit=Decimal("2900")
        )

    assert refused.value.field == "take_profit" and "above the mark" in str(refused.value)
