"""Live figures between grid moves: the exchange's mark price and the bot's PnL valued at it.

Lighter values positions at its mark price (unrealized PnL, margin, liquidations), which it
publishes on the `market_stats` channel; the account stream turns it into `MarkUpdate` events.
The runner feeds every burst to `MarkBook.take`, which keeps the latest mark per market (per leg).
While the mark moves, `MarkBook.due` hands out a mark to publish at most once every
`MARK_PUBLISH_SECONDS` (a throttle: a mark moving every 50 ms costs one write and one push a
second, not twenty), and only when it differs from the last one published.

`figures_publish` then writes it as the bot's `last_price` (fenced, like every runner write) and
pushes the mark with the bot's PnL split valued at it, computed from the runner's own ledger (no
re-read of the fills): pages update the last price, inventory PnL and total PnL with no fill and
no grid move. Everything that reads the bot later (the API's PnL, page snapshots) values the
position at that same mark.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from django.db import transaction

from bots import schemas, selectors
from bots.dashboard import broadcast
from bots.engine.db_thread import db
from bots.engine.recording import LeaseLost
from bots.models import Bot, GridBot
from bots.strategies.accounting import Ledger
from bots.summary_schemas import PnlOut
from exchange.streams import MarkUpdate

# At most one publication (write + push) of the mark and PnL per bot per this many seconds.
MARK_PUBLISH_SECONDS = 1.0


class MarkBook:
    """The latest mark price per market and the throttle of its publication."""

    def __init__(
        self,
        *,
        interval_s: float = MARK_PUBLISH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._marks: dict[int, Decimal] = {}
        self._published: dict[int, Decimal] = {}
        self._next_at: dict[int, float] = {}

    def take(self, events: Iterable[object]) -> None:
        """Keep the newest mark of every market in `events` (other events are ignored)."""
        for event in events:
            if isinstance(event, MarkUpdate):
                self._marks[event.market_id] = event.mark_price

    def mark(self, market_id: int) -> Decimal | None:
        """The exchange's latest mark price of the market (None before the first one)."""
        return self._marks.get(market_id)

    def due(self, market_id: int, *, throttled: bool = True) -> Decimal | None:
        """The mark to publish now, or None: unchanged since the last publication, or the last
        one was less than `interval_s` ago (it is handed out once the interval has passed;
        `throttled=False`: at once, for a run's last word)."""
        mark = self._marks.get(market_id)
        if mark is None or mark == self._published.get(market_id):
            return None
        now = self._clock()
        if throttled and now < self._next_at.get(market_id, 0.0):
            return None
        self._published[market_id] = mark
        self._next_at[market_id] = now + self.interval_s
        return mark


async def figures_publish(bot: Bot, fence: int, mark: Decimal, ledger: Ledger) -> None:
    """Write `mark` as the bot's last price and push it with the PnL valued at it (fenced)."""
    figures = selectors.BotPnl(
        bot_id=bot.pk, symbol=bot.market.symbol, mark_price=mark, summary=ledger.summary(mark)
    )
    await db(figures_record)(bot, fence, mark, schemas.payload(PnlOut, figures))


def figures_record(bot: Bot, fence: int, mark: Decimal, pnl: dict[str, Any]) -> None:
    """The fenced write of the mark and its push (after the commit) as a partial `bot`."""
    with transaction.atomic():
        updated = GridBot.objects.filter(pk=bot.pk, lease_fence=fence).update(last_price=mark)
        if not updated:
            raise LeaseLost(f"bot {bot.pk}: lease fence {fence} is no longer current")
        if isinstance(bot, GridBot):
            bot.last_price = mark
        broadcast.bot_run_state(bot.pk, {"last_price": mark, "pnl": pnl})
