"""Dead-man's switch per account: Lighter's scheduled cancel-all, kept ahead while bots live.

While a bot's runner is alive on an account whose switch is enabled (on by default for mainnet),
the account keeps a cancel-all scheduled `ARM_SECONDS` ahead; the beat task re-arms it every
minute (the runner also re-arms from its loop). If every process dies, nobody re-arms and the
exchange cancels the resting orders a few minutes later.

"Alive" is the lease (`bots.engine.leases`), not the desired state: re-arming for a bot whose runner
is dead would defeat the switch. The switch is aborted only after a clean stop, i.e. when no
bot of the account should run any more; a crashed bot leaves it armed on purpose.
`ExchangeAccount.dead_mans_switch_armed_until` records the scheduled time for the dashboard.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.db.models import Q

from bots.dashboard import broadcast
from bots.engine.controls import (
    ExchangeActionFailed,
    account_can_sign,
    exchange_run,
)
from bots.engine.leases import lease_holder
from bots.models import DesiredState, ExchangeAccount
from bots.ownership import market_bots
from exchange.redis_clients import redis_client

logger = logging.getLogger(__name__)

# Lighter accepts 5 minutes at the least; re-armed every minute, so it never gets closer than 4.
# Lighter refuses a scheduled cancel-all under 5 minutes ahead (as it arrives): 10 minutes ahead,
# re-armed every minute, never closer than 9.
ARM_SECONDS = 600


def _bots_alive(redis_client: redis.Redis, account: ExchangeAccount) -> bool:
    """Whether a runner of a bot trading on the account (a grid, either leg of a hedge bot)
    holds its lease."""
    ids = market_bots(account.pk).values_list("pk", flat=True)
    return any(lease_holder(redis_client, bot_id) is not None for bot_id in ids)


def _bots_active(account: ExchangeAccount) -> bool:
    return market_bots(account.pk).exclude(desired_state=DesiredState.STOPPED).exists()


def _armed_until_store(account: ExchangeAccount, until: datetime | None) -> None:
    ExchangeAccount.objects.filter(pk=account.pk).update(dead_mans_switch_armed_until=until)
    account.dead_mans_switch_armed_until = until
    broadcast.account_changed(account)


def deadman_sync(account: ExchangeAccount, redis_client: redis.Redis) -> str:
    """Arm, abort or leave the account's switch; returns "armed", "aborted" or "unchanged"."""
    if not account_can_sign(account):
        return "unchanged"
    if account.is_locked:
        # Its key is only in the bots workers' memory (engine.key_handoff): their runners keep
        # the switch armed while they run; this process cannot sign for it.
        return "locked"
    enabled = account.dead_mans_switch_enabled
    if enabled and _bots_alive(redis_client, account):

        async def arm() -> int:
            async with account.client() as client:
                return await client.arm_dead_mans_switch(ARM_SECONDS)

        at_ms = exchange_run(account, arm)
        _armed_until_store(account, datetime.fromtimestamp(at_ms / 1000, tz=UTC))
        logger.info("account %s: dead-man's switch armed %ss ahead", account.pk, ARM_SECONDS)
        return "armed"
    armed = account.dead_mans_switch_armed_until is not None
    if armed and (not enabled or not _bots_active(account)):

        async def abort() -> object:
            async with account.client() as client:
                return await client.abort_dead_mans_switch()

        exchange_run(account, abort)
        _armed_until_store(account, None)
        logger.info("account %s: dead-man's switch aborted (no bot runs)", account.pk)
        return "aborted"
    return "unchanged"


def deadman_sync_all() -> dict[int, str]:
    """`deadman_sync` for every account that has bots or an armed switch; outcome per account."""
    client = redis_client(settings.REDIS_URL)
    outcomes: dict[int, str] = {}
    try:
        accounts = ExchangeAccount.objects.filter(
            Q(bots__isnull=False)
            | Q(hedge_bots_taking__isnull=False)
            | Q(dead_mans_switch_armed_until__isnull=False)
        ).distinct()
        for account in accounts:
            try:
                outcomes[account.pk] = deadman_sync(account, client)
            except ExchangeActionFailed as exc:
                # One unreachable account must not keep the others unprotected.
                logger.warning("account %s: dead-man's switch sync failed: %s", account.pk, exc)
                outcomes[account.pk] = "failed"
    finally:
        client.close()
    return outcomes
