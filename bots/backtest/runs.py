"""Backtest rows: snapshot a bot's config, run the kernel over the store, save the results.

Runs in the Celery task `bots.backtest.tasks.backtest_run_task` (default queue).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from bots.backtest import engine, kernel, store, venue
from bots.models import Backtest, BacktestMode, BacktestStatus, GridBot, Market

logger = logging.getLogger(__name__)

# The GridBot fields a backtest snapshots (and "create a bot from this config" restores).
CONFIG_FIELDS = (
    "spacing_mode",
    "step",
    "levels_per_side",
    "size_mode",
    "size",
    "post_only",
    "max_open_orders",
    "max_position_notional",
    "leverage",
    "margin_mode",
    "stop_loss_price",
    "take_profit_price",
    "flatten_on_stop",
)
_DECIMALS = {
    "step",
    "size",
    "max_position_notional",
    "leverage",
    "stop_loss_price",
    "take_profit_price",
}
MAX_FILLS_SAVED = 5000


def config_snapshot(bot: GridBot) -> dict[str, Any]:
    """The bot's settings as JSON (Decimals as strings), with its name and account."""
    snapshot: dict[str, Any] = {"name": bot.name, "account_id": bot.account_id}
    for name in CONFIG_FIELDS:
        value = getattr(bot, name)
        snapshot[name] = str(value) if isinstance(value, Decimal) else value
    return snapshot


def bot_fields(snapshot: dict[str, Any]) -> dict[str, Any]:
    """GridBot field values from a snapshot."""
    fields: dict[str, Any] = {}
    for name in CONFIG_FIELDS:
        value = snapshot.get(name)
        fields[name] = Decimal(value) if name in _DECIMALS and value is not None else value
    return fields


def backtest_create(
    bot: GridBot,
    start_ms: int,
    end_ms: int,
    *,
    tier: str,
    slippage_bps: Decimal,
    mode: str = BacktestMode.FILL_MODEL,
    collateral: Decimal | None = None,
    volume_share: Decimal | None = None,
) -> Backtest:
    """A queued backtest of `bot`'s current settings over [start_ms, end_ms); `collateral`
    (None: unlimited) and `volume_share` (None: orders fill whole; a fraction: partial fills,
    kernel.Settings) are kept in the config snapshot."""
    config = config_snapshot(bot)
    if collateral is not None:
        config["collateral"] = str(collateral)
    if volume_share is not None:
        config["volume_share"] = str(volume_share)
    return Backtest.objects.create(
        bot=bot,
        market=bot.market,
        config=config,
        start_ms=start_ms,
        end_ms=end_ms,
        tier=tier,
        slippage_bps=slippage_bps,
        mode=mode,
    )


def settings_of(backtest: Backtest) -> kernel.Settings:
    """The kernel's settings for a backtest row."""
    bot = GridBot(market=backtest.market, **bot_fields(backtest.config))
    maker, taker = kernel.TIER_FEES_PPM.get(backtest.tier, (0, 0))
    collateral = backtest.config.get("collateral")
    share = backtest.config.get("volume_share")
    return kernel.Settings(
        config=bot.grid_config(),
        maker_fee_ppm=maker,
        taker_fee_ppm=taker,
        slippage_bps=backtest.slippage_bps,
        leverage=bot.leverage,
        collateral=Decimal(collateral) if collateral else None,
        min_initial_margin_fraction=_min_imf(backtest.market),
        volume_share=Decimal(share) if share else None,
    )


def _min_imf(market: Market) -> int:
    """The market's smallest initial margin fraction (1e-4) from its max leverage (unknown:
    Lighter's usual 2 %, 50x)."""
    if not market.max_leverage:
        return 200
    return int(Decimal(10_000) / market.max_leverage)


def backtest_execute(backtest_id: int) -> str:
    """Run a queued backtest; its row ends `done` with results or `failed` with the reason."""
    with transaction.atomic():
        backtest = Backtest.objects.select_for_update().select_related("market").get(pk=backtest_id)
        if backtest.status != BacktestStatus.QUEUED:
            return backtest.status
        backtest.status = BacktestStatus.RUNNING
        backtest.save(update_fields=["status"])
    market: Market = backtest.market
    try:
        settings = settings_of(backtest)
        candles = store.load_candles(
            market.network, market.market_id, backtest.start_ms, backtest.end_ms,
            volumes=settings.volume_share is not None,
        )  # fmt: skip
        if len(candles) == 0:
            raise ValueError("no stored candles in this range (import or record some first)")
        funding = store.load_funding(
            market.network, market.market_id, backtest.start_ms, backtest.end_ms
        )

        def progress(done: int, total: int) -> None:
            percent = done * 100 // total
            if percent >= backtest.progress + 5:
                backtest.progress = percent
                Backtest.objects.filter(pk=backtest.pk).update(progress=percent)

        backtest_run = venue.run if backtest.mode == BacktestMode.VENUE else engine.run
        result = backtest_run(settings, candles, funding, progress)
    except ValueError as exc:  # the config or the data: said on the page
        _failed(backtest, str(exc))
        return BacktestStatus.FAILED
    except Exception:
        # A bug: the row must not stay "running" for ever; the traceback goes to the log.
        logger.exception("backtest %s crashed", backtest.pk)
        _failed(backtest, "internal error (see the worker's log)")
        raise
    Backtest.objects.filter(pk=backtest.pk).update(
        status=BacktestStatus.DONE,
        progress=100,
        results=result.summary(),
        equity_curve=[
            [t // 1000, str(c), str(e.quantize(Decimal("0.01")))] for t, c, e in result.equity
        ],
        fills=[
            [f.time_ms // 1000, f.side, str(f.price), str(f.size_base)]
            for f in result.fills[:MAX_FILLS_SAVED]
        ],
        finished_at=timezone.now(),
    )
    return BacktestStatus.DONE


def _failed(backtest: Backtest, reason: str) -> None:
    Backtest.objects.filter(pk=backtest.pk).update(
        status=BacktestStatus.FAILED, error=reason[:1000], finished_at=timezone.now()
    )


def bot_from_backtest(backtest: Backtest, name: str) -> GridBot:
    """A new, stopped grid bot with the backtest's config on its market and account."""
    snapshot = backtest.config
    bot = GridBot(
        name=name,
        account_id=snapshot["account_id"],
        market=backtest.market,
        **bot_fields(snapshot),
    )
    bot.full_clean()
    bot.save()
    return bot
