"""Account and market actions that talk to the exchange: test connection, look up, sync markets.

Called through `bots.services` (which re-exports them) by the admin, the API and provisioning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from bots.dashboard import broadcast
from bots.engine.controls import ExchangeActionFailed, exchange_run
from bots.models import BotStatus, ExchangeAccount, Market

if TYPE_CHECKING:
    from exchange.client import LighterClient

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionReport:
    """What "Test connection" found, as stored on the account."""

    checked_at: datetime
    summary: dict[str, Any]


def account_test_connection(account: ExchangeAccount) -> ConnectionReport:
    """Check the API key, fetch balance, positions and open orders; store the outcome."""
    if account.account_index is None or account.api_key_index is None:
        raise ExchangeActionFailed("Set the account index and API key index first.")
    if not account.has_api_private_key:
        raise ExchangeActionFailed("Store an API private key first.")

    async def check() -> dict[str, Any]:
        async with account.client() as client:
            await client.check_api_key()
            return await _account_state(client)

    now = timezone.now()
    try:
        summary = exchange_run(account, check)
    except ExchangeActionFailed as exc:
        ExchangeAccount.objects.filter(pk=account.pk).update(
            last_checked_at=now, last_error=str(exc), last_check_summary={}
        )
        raise
    ExchangeAccount.objects.filter(pk=account.pk).update(
        last_checked_at=now, last_error="", last_check_summary=summary
    )
    logger.info("account %s (%s): connection ok", account.pk, account)
    return ConnectionReport(checked_at=now, summary=summary)


async def _account_state(client: LighterClient) -> dict[str, Any]:
    """Balances, positions and open-order count as stored in `last_check_summary`."""
    info = await client.account()
    orders = await client.open_orders()
    return {
        "collateral": str(info.collateral),
        "available_balance": str(info.available_balance),
        "equity": str(info.equity),
        "positions": [
            {
                "symbol": p.symbol,
                "side": str(p.side),
                "size": str(p.size),
                # the keys `bots.account_summaries` reads (they were never written before)
                "avg_entry_price": str(p.avg_entry_price),
                "unrealized_pnl": str(p.unrealized_pnl),
            }
            for p in info.positions
            if p.size
        ],
        "open_orders": len(orders),
    }


def account_refresh(account: ExchangeAccount) -> dict[str, Any]:
    """Re-read balances and positions from the exchange, store them and push them live.

    Unlike "Test connection" it skips the API-key check: it runs every few seconds for accounts
    whose bots are active, and every read costs one request of the account's budget.
    """
    if account.account_index is None:
        raise ExchangeActionFailed("Set the account index first.")

    async def read() -> dict[str, Any]:
        # Signing credentials: open orders are a private endpoint (auth token from the signer).
        async with account.client() as client:
            return await _account_state(client)

    now = timezone.now()
    try:
        summary = exchange_run(account, read)
    except ExchangeActionFailed as exc:
        ExchangeAccount.objects.filter(pk=account.pk).update(last_error=str(exc))
        raise
    with transaction.atomic():
        ExchangeAccount.objects.filter(pk=account.pk).update(
            last_checked_at=now, last_error="", last_check_summary=summary
        )
        account.refresh_from_db()
        broadcast.account_changed(account)
    return summary


# The REST read of an active account's balances is a slow reconcile: its bots' orders, fills and
# positions come from their runners' streams, so 2 reads every 2 minutes (1 a minute of a
# standard account's 60) are enough; it used to cost 8-16 a minute at every 15 s beat.
ACCOUNT_RECONCILE_SECONDS = 120.0


def accounts_refresh_active() -> dict[int, str]:
    """Refresh every account with a running or paused bot (a hedge bot's taker account too:
    its page shows the pair's net from both accounts' checks) that was not read in the last
    `ACCOUNT_RECONCILE_SECONDS`; "ok", "fresh" or the error, per account id."""
    live = [BotStatus.RUNNING, BotStatus.DEGRADED, BotStatus.PAUSED]
    active = ExchangeAccount.objects.filter(
        Q(bots__status__in=live) | Q(hedge_bots_taking__status__in=live)
    ).distinct()
    outcome: dict[int, str] = {}
    fresh_since = timezone.now() - timedelta(seconds=ACCOUNT_RECONCILE_SECONDS)
    for account in active:
        if account.is_locked:
            # The key is only in the bots workers' memory (bots.engine.key_handoff).
            outcome[account.pk] = "locked"
            continue
        if account.last_checked_at is not None and account.last_checked_at > fresh_since:
            outcome[account.pk] = "fresh"
            continue
        try:
            account_refresh(account)
            outcome[account.pk] = "ok"
        except ExchangeActionFailed as exc:
            outcome[account.pk] = str(exc)
    return outcome


def account_lookup_index(account: ExchangeAccount) -> int:
    """Fill `account_index` from the L1 address (the master account comes first)."""
    if not account.l1_address:
        raise ExchangeActionFailed("Set the L1 address first.")

    async def lookup() -> list[int]:
        async with account.client(signing=False) as client:
            return await client.accounts_by_l1_address(account.l1_address)

    indexes = exchange_run(account, lookup)
    if not indexes:
        raise ExchangeActionFailed(f"No account found for {account.l1_address}.")
    ExchangeAccount.objects.filter(pk=account.pk).update(account_index=indexes[0])
    account.account_index = indexes[0]
    return indexes[0]


def markets_sync(account: ExchangeAccount) -> int:
    """Create or update the Market rows of the account's network from the exchange."""

    async def fetch() -> list[Any]:
        async with account.client(signing=False) as client:
            return await client.markets()

    infos = exchange_run(account, fetch)
    now = timezone.now()
    with transaction.atomic():
        for info in infos:
            Market.objects.update_or_create(
                network=account.network,
                market_id=info.market_id,
                defaults={
                    "symbol": info.symbol,
                    "size_decimals": info.size_decimals,
                    "price_decimals": info.price_decimals,
                    "min_base_amount": info.min_base_amount,
                    "min_quote_amount": info.min_quote_amount,
                    "max_leverage": info.max_leverage,
                    "last_price": info.last_trade_price,
                    "synced_at": now,
                },
            )
    logger.info("network %s: synced %d markets", account.network, len(infos))
    return len(infos)
