"""Bots on a locked account, with a real bots worker: they wait in `locked`, an unlock in the web
process hands the key (sealed) to the worker and the grid goes out, a lock stops the sending, and
no plaintext key is ever in Redis, the database or a log.

Processes as in test_worker_kill: this test is the web side (the admin actions, through the
Django test client), the simulator runs on a thread of this process, the bots worker is a real
`celery worker -Q bots -P threads` subprocess on the same database and Redis.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis
from django.db import connection
from django.urls import reverse

from bots import services
from bots.models import BotEvent, ExchangeAccount, GridBot, HedgeBot, Order
from lighterweb import keyring
from tests.bots.hedge_support import hedge_bot
from tests.bots.runner_support import account_on, grid_bot, sim_open_orders
from tests.bots.worker_support import ETH, LEVELS, Worker, grid_ok, wait_for, worker_env
from tests.lighterweb.factories import make_account

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
__all__ = ["worker_env"]  # the fixture, imported for this module's tests

PASSPHRASE = "correct horse battery staple"


def _locked_account(simulator: Any, sim_account: Any) -> ExchangeAccount:
    """A simulator account whose key is passphrase-locked and, as after a restart, locked."""
    account = make_account(
        base_url_override=simulator.base_url,
        tier="premium",
        account_index=sim_account.index,
        api_key_index=sim_account.api_key_index,
        l1_address=sim_account.l1_address,
        key_mode="locked",
    )
    account.set_api_private_key(sim_account.private_key, passphrase=PASSPHRASE)
    account.save()
    services.markets_sync(account)  # public reads: no key needed
    keyring.forget(account.pk)
    assert account.is_locked
    return account


def _secret_forms(private_key: str) -> list[bytes]:
    bare = private_key.removeprefix("0x").lower()
    return [bare.encode(), bare.upper().encode(), bytes.fromhex(bare)]


def _redis_dump(client: redis.Redis) -> list[bytes]:
    """Every key and every value of the test's Redis database."""
    out: list[bytes] = []
    for name in client.scan_iter(count=1000):
        out.append(name)
        kind = client.type(name).decode()
        if kind == "string":
            out.append(client.get(name) or b"")
        elif kind == "hash":
            for field, value in client.hgetall(name).items():
                out += [field, value]
        elif kind == "list":
            out += client.lrange(name, 0, -1)
        elif kind == "set":
            out += list(client.smembers(name))
        elif kind == "zset":
            out += [member for member, _ in client.zrange(name, 0, -1, withscores=True)]
        elif kind == "stream":
            for _, fields in client.xrange(name):
                for field, value in fields.items():
                    out += [field, value]
    return out


def _database_dump() -> list[bytes]:
    """Every cell of every table of the test database, as text."""
    out: list[bytes] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                out += [
                    bytes(cell) if isinstance(cell, bytes | memoryview) else str(cell).encode()
                    for cell in row
                ]
    return out


def _assert_nowhere(secret: str, where: str, blobs: list[bytes]) -> None:
    for form in _secret_forms(secret):
        assert not any(form in blob for blob in blobs), f"plaintext key found in {where}"


def _action(admin_client: Any, account: ExchangeAccount, action: str, **extra: str) -> None:
    response = admin_client.post(
        reverse("admin:bots_exchangeaccount_changelist"),
        {"action": action, "_selected_action": [account.pk], **extra},
    )
    assert response.status_code == 302, response.content[:500]


def test_a_bot_on_a_locked_account_waits_runs_after_unlock_and_stops_sending_on_lock(
    simulator, funded_account, redis_client, worker_env, admin_client, caplog
):
    caplog.set_level(logging.DEBUG)
    account = _locked_account(simulator, funded_account)
    bot = grid_bot(account, "ETH", levels=LEVELS)
    GridBot.objects.filter(pk=bot.pk).update(desired_state="stopped", lease_fence=0)
    bot.refresh_from_db()
    index = funded_account.index
    worker = Worker(worker_env)
    try:
        worker.wait_ready()
        services.bot_start(bot, actor="test")

        # Locked: the runner waits with the reason, sends nothing, is not an error.
        wait_for(
            lambda: GridBot.objects.get(pk=bot.pk).status == "locked",
            30,
            "the bot to wait in locked\n" + worker.output(),
        )
        waiting = GridBot.objects.get(pk=bot.pk)
        assert "unlock" in waiting.status_message
        assert waiting.crash_count == 0
        assert sim_open_orders(simulator, index, ETH) == []
        assert not Order.objects.filter(bot=bot).exists()

        # Unlock in the web process: the key reaches the worker sealed, the grid goes out.
        _action(admin_client, account, "unlock_key", unlock_passphrase=PASSPHRASE)
        wait_for(
            lambda: (
                grid_ok(simulator, index, bot)
                and GridBot.objects.get(pk=bot.pk).status == "running"
            ),
            30,
            "the grid after the unlock\n" + worker.output(),
        )
        assert BotEvent.objects.filter(bot=bot, kind="key_unlocked").exists()
        secret = funded_account.private_key
        # While unlocked Redis holds the sealed copy: ciphertext only.
        assert any(name.startswith(b"lighterweb:keys:sealed:") for name in redis_client.keys())
        _assert_nowhere(secret, "Redis", _redis_dump(redis_client))

        # Lock again: the bot cancels its orders and waits in locked; nothing more is sent.
        _action(admin_client, account, "lock_key")
        wait_for(
            lambda: (
                GridBot.objects.get(pk=bot.pk).status == "locked"
                and sim_open_orders(simulator, index, ETH) == []
            ),
            30,
            "the bot to cancel and wait in locked after the lock\n" + worker.output(),
        )
        orders_then = Order.objects.filter(bot=bot).count()
        locked_at = GridBot.objects.get(pk=bot.pk).heartbeat_at
        assert locked_at is not None
        # The runner lives on (its next heartbeat) without placing anything.
        wait_for(
            lambda: (GridBot.objects.get(pk=bot.pk).heartbeat_at or locked_at) > locked_at,
            20,
            "a heartbeat of the locked runner\n" + worker.output(),
        )
        assert sim_open_orders(simulator, index, ETH) == []
        assert Order.objects.filter(bot=bot).count() == orders_then
        assert GridBot.objects.get(pk=bot.pk).status == "locked"

        # No plaintext key in Redis, the database or any log line of either process.
        _assert_nowhere(secret, "Redis", _redis_dump(redis_client))
        _assert_nowhere(secret, "the database", _database_dump())
        _assert_nowhere(secret, "the worker's log", [line.encode() for line in worker.lines])
        _assert_nowhere(secret, "this process's log", [caplog.text.encode()])

        # A stop while locked ends the runner (no key to cancel with: nothing rests anyway).
        services.bot_stop(GridBot.objects.get(pk=bot.pk), actor="test")
        wait_for(
            lambda: GridBot.objects.get(pk=bot.pk).status == "stopped",
            20,
            "the stop while locked\n" + worker.output(),
        )
    finally:
        worker.stop()


def _status(bot: GridBot) -> str:
    return GridBot.objects.get(pk=bot.pk).status


def test_a_later_worker_gets_the_key_while_the_web_process_holds_it_not_after_its_restart(
    simulator, funded_account, redis_client, worker_env, admin_client
):
    account = _locked_account(simulator, funded_account)
    # Unlocked before any bots worker runs: sealed for nobody yet, held by this web process.
    _action(admin_client, account, "unlock_key", unlock_passphrase=PASSPHRASE)
    assert not redis_client.keys("lighterweb:keys:sealed:*")
    bot = grid_bot(account, "ETH", levels=LEVELS)
    GridBot.objects.filter(pk=bot.pk).update(desired_state="stopped", lease_fence=0)
    bot.refresh_from_db()
    index = funded_account.index
    first = Worker(worker_env)
    later: Worker | None = None
    try:
        first.wait_ready()
        services.bot_start(bot, actor="test")
        # The worker appears; the web process re-seals for it and the bot runs.
        wait_for(
            lambda: grid_ok(simulator, index, bot) and _status(bot) == "running",
            30,
            "the grid on a worker that appeared after the unlock\n" + first.output(),
        )
        first.stop()  # orders rest under the dead-man's switch; the bot waits for a worker

        # The web process restarts: its memory, and so the key, is gone.
        keyring.forget(account.pk)
        later = Worker(worker_env)
        later.wait_ready()
        wait_for(
            lambda: _status(bot) == "locked",
            30,
            "the bot locked on the new worker\n" + later.output(),
        )
        assert len(sim_open_orders(simulator, index, ETH)) == 2 * LEVELS, "left resting"

        _action(admin_client, account, "unlock_key", unlock_passphrase=PASSPHRASE)
        wait_for(
            lambda: _status(bot) == "running" and grid_ok(simulator, index, bot),
            30,
            "the bot running again after the second unlock\n" + later.output(),
        )
        recovered = BotEvent.objects.filter(bot=bot, kind="recovered").order_by("-id").first()
        assert recovered is not None and recovered.data["adopted"] == 2 * LEVELS
    finally:
        first.stop()
        if later is not None:
            later.stop()


def test_a_dont_remember_key_entered_in_the_form_starts_the_waiting_bot(
    simulator, funded_account, worker_env, admin_client
):
    account = make_account(
        base_url_override=simulator.base_url,
        tier="premium",
        account_index=funded_account.index,
        api_key_index=funded_account.api_key_index,
        l1_address=funded_account.l1_address,
        key_mode="session",
    )
    services.markets_sync(account)
    bot = grid_bot(account, "ETH", levels=LEVELS)
    GridBot.objects.filter(pk=bot.pk).update(desired_state="stopped", lease_fence=0)
    bot.refresh_from_db()
    worker = Worker(worker_env)
    try:
        worker.wait_ready()
        services.bot_start(bot, actor="test")
        wait_for(lambda: _status(bot) == "locked", 30, "locked\n" + worker.output())

        form = {
            "name": account.name,
            "network": "paper",
            "tier": "premium",
            "account_index": str(funded_account.index),
            "api_key_index": str(funded_account.api_key_index),
            "l1_address": funded_account.l1_address,
            "key_mode": "session",
            "base_url_override": simulator.base_url,
            "api_private_key": funded_account.private_key,
        }
        response = admin_client.post(
            reverse("admin:bots_exchangeaccount_change", args=[account.pk]), form
        )
        assert response.status_code == 302, response.content[:2000]

        wait_for(
            lambda: _status(bot) == "running" and grid_ok(simulator, funded_account.index, bot),
            30,
            "the grid after the key was entered\n" + worker.output(),
        )
        account.refresh_from_db()
        assert account.api_private_key_encrypted == ""
    finally:
        worker.stop()


def test_a_hedge_bot_waits_for_the_key_of_its_taker_account_too(
    simulator, redis_client, worker_env, admin_client
):
    # A remembered maker key is not enough: the runner waits in `locked` until the key of every
    # leg's account reached the worker, sends nothing meanwhile, and starts once B is unlocked.
    maker_sim, taker_sim = simulator.create_account(), simulator.create_account()
    maker = account_on(simulator, maker_sim)
    taker = _locked_account(simulator, taker_sim)
    bot = hedge_bot(maker, taker, running=False, hold_min_ms=60_000)
    worker = Worker(worker_env)
    try:
        worker.wait_ready()
        services.bot_start(bot, actor="test")
        wait_for(
            lambda: HedgeBot.objects.get(pk=bot.pk).status == "locked",
            30,
            "the hedge bot to wait in locked for B's key\n" + worker.output(),
        )
        waiting = HedgeBot.objects.get(pk=bot.pk)
        assert "unlock" in waiting.status_message and waiting.crash_count == 0
        assert sim_open_orders(simulator, maker_sim.index, ETH) == []

        _action(admin_client, taker, "unlock_key", unlock_passphrase=PASSPHRASE)
        wait_for(
            lambda: (
                HedgeBot.objects.get(pk=bot.pk).status == "running"
                and len(sim_open_orders(simulator, maker_sim.index, ETH)) == 1
            ),
            30,
            "the hedge bot running with A's order after B's unlock\n" + worker.output(),
        )
        services.bot_stop(HedgeBot.objects.get(pk=bot.pk), actor="test")
        wait_for(
            lambda: HedgeBot.objects.get(pk=bot.pk).status == "stopped",
            20,
            "the stop\n" + worker.output(),
        )
    finally:
        worker.stop()
