"""First-run paper setup: three simulator accounts with real API keys, markets, demo bots.

`paper_provision()` is idempotent (`./scripts/start.sh` runs it on every start):

1. the simulator's config file (`var/sim-config.json`, which start.sh's `sim` process loads)
   gets one funded account with a freshly generated API public key, unless it already has the
   account the database knows;
2. an `ExchangeAccount` "Paper" on the `paper` network holds the matching private key
   (encrypted); it is re-keyed whenever the config had to be written again;
3. the `paper` markets are written from the same config the simulator serves (the simulator is
   not running yet when start.sh provisions; "Sync markets" later refreshes them);
4. three STOPPED grid bots (BTC, ETH, SOL) with settings scaled to each market's price;
5. two more funded accounts set up the same way, "Paper hedge" (the hedge bot's maker A) and
   "Paper B" (its taker B), and a STOPPED "ETH hedge (paper)" bot on them. The hedge has accounts
   of its own because one account runs one bot per market: on "Paper" it could not start while
   the ETH grid runs, and a new user starts all four demo bots at once. (An install provisioned
   before this keeps its hedge bot, maker on "Paper", as it is.)

The private keys never leave the database; the config file holds only the public keys.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from bots.engine.recording import event_create
from bots.models import (
    BotStatus,
    DesiredState,
    EventLevel,
    ExchangeAccount,
    Fill,
    FundingPayment,
    GridBot,
    HedgeBot,
    Market,
    MarketOrderIndexes,
    Network,
    Order,
    SizeMode,
    Tier,
)
from exchange.simulator.config import DEFAULT_CONFIG_PATH, load_config

logger = logging.getLogger(__name__)

PAPER_ACCOUNT_NAME = "Paper"
PAPER_ACCOUNT_INDEX = 100
PAPER_API_KEY_INDEX = 3
PAPER_L1_ADDRESS = "0x" + "00" * 19 + "64"
PAPER_COLLATERAL = "100000"
# The hedge bot's taker account B and, beside it, its maker account A.
PAPER_TAKER_ACCOUNT_NAME = "Paper B"
PAPER_TAKER_ACCOUNT_INDEX = 101
PAPER_TAKER_L1_ADDRESS = "0x" + "00" * 19 + "65"
PAPER_HEDGE_MAKER_ACCOUNT_NAME = "Paper hedge"
PAPER_HEDGE_MAKER_ACCOUNT_INDEX = 102
PAPER_HEDGE_MAKER_L1_ADDRESS = "0x" + "00" * 19 + "66"
HEDGE_SYMBOL = "ETH"
HEDGE_BOT_NAME = "ETH hedge (paper)"
# 100 USDC per cycle (ten times the minimum order), a 30-90 s hold and a 10 s cooldown.
HEDGE_SIZE_QUOTE = Decimal("100")
HEDGE_HOLD_MS = (30_000, 90_000)
HEDGE_COOLDOWN_MS = 10_000
PAPER_SYMBOLS = ("BTC", "ETH", "SOL")
# Grid shape of the demo bots: 5 bps steps fill within a minute or two on the default price
# paths; 100 USDC per level is ten times the minimum order; 10 levels cap the position.
STEP_FRACTION = Decimal("0.0005")
LEVELS_PER_SIDE = 5
SIZE_QUOTE = Decimal("100")
MAX_POSITION_NOTIONAL = Decimal("1000")
LEVERAGE = Decimal("3")


@dataclass(frozen=True)
class ProvisionReport:
    """What a provisioning run created (False/0 when it was already there)."""

    config_written: bool
    account_created: bool
    account_rekeyed: bool
    markets: int
    bots_created: int
    taker_account_created: bool = False
    hedge_bots_created: int = 0
    hedge_maker_account_created: bool = False


def sim_config_path() -> Path:
    """Where start.sh's simulator reads its config (setting PAPER_SIM_CONFIG, default var/)."""
    return Path(settings.PAPER_SIM_CONFIG)


def paper_tier() -> Tier:
    """The paper account's tier (setting PAPER_TIER): standard (no fees, 60 requests a minute)
    or premium (Lighter's premium maker/taker fees and budget)."""
    return Tier(settings.PAPER_TIER)


@dataclass(frozen=True)
class PaperAccount:
    """One simulator account the paper setup provisions."""

    name: str
    index: int
    l1_address: str


MAKER = PaperAccount(PAPER_ACCOUNT_NAME, PAPER_ACCOUNT_INDEX, PAPER_L1_ADDRESS)
TAKER = PaperAccount(PAPER_TAKER_ACCOUNT_NAME, PAPER_TAKER_ACCOUNT_INDEX, PAPER_TAKER_L1_ADDRESS)
HEDGE_MAKER = PaperAccount(
    PAPER_HEDGE_MAKER_ACCOUNT_NAME, PAPER_HEDGE_MAKER_ACCOUNT_INDEX, PAPER_HEDGE_MAKER_L1_ADDRESS
)


def _config_account(path: Path, who: PaperAccount = MAKER) -> dict[str, Any] | None:
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return next(
        (
            a
            for a in data.get("accounts", [])
            if a.get("index") == who.index and str(PAPER_API_KEY_INDEX) in a.get("api_keys", {})
        ),
        None,
    )


def _config_write(path: Path, public_key: str, who: PaperAccount = MAKER) -> None:
    data: dict[str, Any] = json.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    if path.exists():
        # Keep an operator's edits (price paths, speed...) and replace only our account.
        data = json.loads(path.read_text(encoding="utf-8"))
    others = [a for a in data.get("accounts", []) if a.get("index") != who.index]
    data["accounts"] = [
        *others,
        {
            "index": who.index,
            "l1_address": who.l1_address,
            "collateral": PAPER_COLLATERAL,
            "api_keys": {str(PAPER_API_KEY_INDEX): public_key},
            "tier": paper_tier().value,
        },
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _account_ensure(
    path: Path, who: PaperAccount = MAKER
) -> tuple[ExchangeAccount, bool, bool, bool]:
    account = ExchangeAccount.objects.filter(network=Network.PAPER, account_index=who.index).first()
    configured = _config_account(path, who)
    if account is not None and account.has_api_private_key and configured is not None:
        if configured.get("tier") != paper_tier().value or account.tier != paper_tier():
            # The simulator applies the config's tier when it next starts.
            _config_write(path, configured["api_keys"][str(PAPER_API_KEY_INDEX)], who)
            account.tier = paper_tier()
            account.save(update_fields=["tier"])
        return account, False, False, False
    from exchange.client import generate_api_key  # the only SDK importer signs the key pair

    private_key, public_key = generate_api_key()
    created = account is None
    if account is None:
        account = ExchangeAccount(
            name=who.name,
            network=Network.PAPER,
            account_index=who.index,
            api_key_index=PAPER_API_KEY_INDEX,
            l1_address=who.l1_address,
            tier=paper_tier(),
        )
    account.set_api_private_key(private_key)
    account.save()
    _config_write(path, public_key, who)
    return account, True, created, not created


def _markets_write(path: Path) -> list[Market]:
    config = load_config(path)
    now = timezone.now()
    markets = []
    for spec in config.markets:
        market, _ = Market.objects.update_or_create(
            network=Network.PAPER,
            market_id=spec.market_id,
            defaults={
                "symbol": spec.symbol,
                "size_decimals": spec.size_decimals,
                "price_decimals": spec.price_decimals,
                # The same conversions the exchange's orderBookDetails reply goes through.
                "min_base_amount": Decimal(spec.min_base_amount).scaleb(-spec.size_decimals),
                "min_quote_amount": spec.min_quote_amount,
                "max_leverage": Decimal(10000) / spec.min_imf,
                "last_price": spec.initial_price,
                "synced_at": now,
            },
        )
        markets.append(market)
    return markets


def _step_for(market: Market) -> Decimal:
    tick = Decimal(1).scaleb(-market.price_decimals)
    price = market.last_price or Decimal(0)
    return max(tick, (price * STEP_FRACTION).quantize(tick, rounding=ROUND_HALF_UP))


def _bots_ensure(account: ExchangeAccount, markets: list[Market]) -> int:
    created = 0
    for market in markets:
        if market.symbol not in PAPER_SYMBOLS:
            continue
        if GridBot.objects.filter(account=account, market=market).exists():
            continue
        bot = GridBot(
            name=f"{market.symbol} grid (paper)",
            account=account,
            market=market,
            step=_step_for(market),
            levels_per_side=LEVELS_PER_SIDE,
            size_mode=SizeMode.QUOTE,
            size=SIZE_QUOTE,
            max_open_orders=2 * LEVELS_PER_SIDE,
            max_position_notional=MAX_POSITION_NOTIONAL,
            leverage=LEVERAGE,
        )
        bot.full_clean()
        bot.save()
        created += 1
    return created


def _hedge_bot_ensure(maker: ExchangeAccount, taker: ExchangeAccount, markets: list[Market]) -> int:
    market = next((m for m in markets if m.symbol == HEDGE_SYMBOL), None)
    if market is None or HedgeBot.objects.filter(name=HEDGE_BOT_NAME).exists():
        return 0
    bot = HedgeBot(
        name=HEDGE_BOT_NAME,
        account=maker,
        taker_account=taker,
        market=market,
        size_mode=SizeMode.QUOTE,
        size=HEDGE_SIZE_QUOTE,
        hold_min_ms=HEDGE_HOLD_MS[0],
        hold_max_ms=HEDGE_HOLD_MS[1],
        cooldown_min_ms=HEDGE_COOLDOWN_MS,
    )
    bot.full_clean()
    bot.save()
    return 1


def paper_provision() -> ProvisionReport:
    """Create whatever of the paper setup is missing; see the module docstring."""
    path = sim_config_path()
    with transaction.atomic():
        account, written, created, rekeyed = _account_ensure(path)
        taker, taker_written, taker_created, _ = _account_ensure(path, TAKER)
        maker, maker_written, maker_created, _ = _account_ensure(path, HEDGE_MAKER)
        markets = _markets_write(path)
        bots = _bots_ensure(account, markets)
        hedges = _hedge_bot_ensure(maker, taker, markets)
    report = ProvisionReport(
        written or taker_written or maker_written,
        created,
        rekeyed,
        len(markets),
        bots,
        taker_created,
        hedges,
        maker_created,
    )
    logger.info("paper provisioning: %s (simulator config %s)", report, path)
    return report


class PaperResetRefused(Exception):
    """The paper venue was not reset (bots still running, or the simulator did not answer)."""


@dataclass(frozen=True)
class PaperResetReport:
    """What a reset of the paper venue and the paper books removed."""

    bots: int
    orders: int
    fills: int
    funding_payments: int


SIM_RESET_TIMEOUT_S = 10.0


def paper_reset(*, actor: str) -> PaperResetReport:
    """Start the paper venue over AND forget the paper bots' books, together.

    Refused while a paper bot is meant to run (stop them first). The venue is reset first: if the
    simulator cannot be reached nothing is touched; then, in one transaction, the orders, fills
    and funding of every paper account are deleted and the paper bots' run state (lattice,
    centre, prices, crash count) cleared, so the venue and the books can never disagree. Each
    paper bot keeps its configuration and gets a `paper_reset` event naming the actor.
    """
    paper_bots = GridBot.objects.filter(account__network=Network.PAPER)
    paper_hedges = HedgeBot.objects.filter(account__network=Network.PAPER)
    running = [
        b.name for b in [*paper_bots, *paper_hedges] if b.desired_state != DesiredState.STOPPED
    ]
    if running:
        raise PaperResetRefused(f"stop the paper bots first: {', '.join(running)}")
    _sim_reset(settings.LIGHTER_PAPER_URL)
    paper = Q(account__network=Network.PAPER)
    with transaction.atomic():
        fills = Fill.objects.filter(paper).delete()[0]
        funding = FundingPayment.objects.filter(paper).delete()[0]
        orders = Order.objects.filter(paper).delete()[0]
        MarketOrderIndexes.objects.filter(paper).delete()  # what the fills were matched by
        paper_hedges.update(strategy_snapshot={}, crash_count=0, status=BotStatus.STOPPED)
        bots = list(paper_bots.select_related("account", "market"))
        paper_bots.update(
            anchor_price=None, centre_index=None, last_price=None, crash_count=0,
            status=BotStatus.STOPPED, status_message="",
        )  # fmt: skip
        for bot in bots:
            event_create(
                bot, "paper_reset",
                f"paper venue and books reset by {actor} ({orders} orders, {fills} fills removed)",
                {"orders": orders, "fills": fills, "funding_payments": funding},
                EventLevel.WARNING,
            )  # fmt: skip
    logger.warning("paper venue and books reset by %s", actor)
    return PaperResetReport(len(bots), orders, fills, funding)


def _sim_reset(base_url: str) -> None:
    if not base_url.startswith(("http://", "https://")):
        raise PaperResetRefused(f"the paper venue URL {base_url!r} is not http(s)")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        f"{base_url.rstrip('/')}/sim/reset",
        data=json.dumps({"confirm": "reset"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=SIM_RESET_TIMEOUT_S) as reply:  # noqa: S310
            reply.read()
    except (urllib.error.URLError, OSError) as exc:
        raise PaperResetRefused(f"the paper venue at {base_url} did not reset: {exc}") from exc
