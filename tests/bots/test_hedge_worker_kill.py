"""A real Celery bots worker running a hedge bot is SIGKILLed between A's fill and B's hedge;
after a restart the hedge goes out within the lease TTL + 10 s and the pair is back within
tolerance.

Processes and shared state as in `tests.bots.worker_support`. The window is made deterministic
by the simulator's fault injection, not by racing with sleeps: B's hedge (the next `sendTx`;
A's orders go as `sendTxBatch`) is answered 200 and never reaches the engine, and the bot's
`hedge_timeout_ms` is long, so after A's fill the worker sits with A long and B flat until it
is killed.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from bots import services
from bots.engine.leases import lease_holder, lease_ttl_seconds
from bots.models import BotEvent, Fill, HedgeBot, Order
from bots.tasks import supervise_bots_task
from tests.bots.hedge_support import ETH, hedge_bot, price_through, sim_position
from tests.bots.runner_support import account_on, sim_open_orders
from tests.bots.worker_support import LEASE_EXPIRY_TIMEOUT_S, Worker, wait_for, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
__all__ = ["worker_env"]  # the fixture, imported for this module's tests

HEDGE_AFTER_RESTART_S = 10.0


def _fault_spent(simulator: Any) -> bool:
    rules = simulator.sim("GET", "/sim/faults")["rules"]
    return all(rule["count"] == 0 for rule in rules)


def _history(simulator: Any, bot: HedgeBot) -> str:
    """The bot's events and orders and both accounts' transactions, for a failure's message."""
    events = list(BotEvent.objects.filter(bot=bot).values_list("kind", "message"))
    orders = list(Order.objects.filter(bot=bot).values_list("client_order_index", "status"))
    indexes = (bot.account.account_index, bot.taker_account.account_index)

    def txs() -> list[tuple[int, int, str]]:
        engine = simulator.engine
        return [(r.type, r.nonce, r.info[:160]) for i in indexes for r in engine.account_txs(i)]

    faults = simulator.sim("GET", "/sim/faults")
    return f"events {events}; A's orders {orders}; txs {simulator.call(txs)}; faults {faults}"


def test_a_worker_killed_between_as_fill_and_bs_hedge_hedges_after_restart(
    simulator, redis_client, worker_env
):
    maker_sim, taker_sim = simulator.create_account(), simulator.create_account()
    maker, taker = account_on(simulator, maker_sim), account_on(simulator, taker_sim)
    bot = hedge_bot(maker, taker, running=False, hold_min_ms=600_000, hedge_timeout_ms=600_000)
    a, b = maker_sim.index, taker_sim.index
    first = Worker(worker_env)
    second: Worker | None = None
    try:
        first.wait_ready()
        services.bot_start(bot, actor="test")  # enqueues run_bot_task on commit
        wait_for(
            lambda: len(sim_open_orders(simulator, a, ETH)) == 1,
            30,
            "A's opening order\n" + first.output(),
        )
        simulator.faults({"kind": "tx_never_executed", "target": "sendTx", "count": 1})

        price_through(simulator, a)
        # B's hedge went out (and was swallowed), and the runner recorded that it is hedging.
        wait_for(lambda: _fault_spent(simulator), 20, "B's hedge sent\n" + first.output())
        wait_for(
            lambda: BotEvent.objects.filter(bot=bot, kind="hedge_due").exists(),
            20,
            "the hedge_due event",
        )
        positions = (sim_position(simulator, a), sim_position(simulator, b))
        assert positions == (Decimal("0.01"), Decimal("0")), _history(simulator, bot)

        first.kill()
        killed = time.monotonic()
        second = Worker(worker_env)
        second.wait_ready()
        wait_for(
            lambda: lease_holder(redis_client, bot.pk) is None,
            LEASE_EXPIRY_TIMEOUT_S,
            "the dead worker's lease to expire",
        )
        restarted = supervise_bots_task()
        assert restarted["restarted"] == [bot.pk]
        budget = lease_ttl_seconds() + HEDGE_AFTER_RESTART_S - (time.monotonic() - killed)
        took = wait_for(
            lambda: sim_position(simulator, b) == Decimal("-0.01"),
            budget,
            "B's hedge after the restart\n" + second.output(),
        )
        print(f"hedged {time.monotonic() - killed:.2f}s after the kill ({took:.2f}s after restart)")

        assert sim_position(simulator, a) == Decimal("0.01")
        # Hedged, not repaired: the restored core resumed in `hedging` and caught up.
        wait_for(
            lambda: HedgeBot.objects.get(pk=bot.pk).strategy_snapshot["state"] == "holding",
            10,
            "holding after the hedge",
        )
        row = HedgeBot.objects.get(pk=bot.pk)
        assert row.crash_count == 1
        assert row.strategy_snapshot["repairs"] == 0
        assert Fill.objects.filter(bot=bot, account=taker).count() >= 1

        services.bot_stop(row, actor="test")
        wait_for(
            lambda: HedgeBot.objects.get(pk=bot.pk).status == "stopped",
            20,
            "the stop to finish\n" + second.output(),
        )
        assert sim_open_orders(simulator, a, ETH) == []
    finally:
        first.kill()
        if second is not None:
            second.stop()
