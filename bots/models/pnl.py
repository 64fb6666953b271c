"""PnL over time: one `PnlSnapshot` per running bot per minute (bots.history), pruned with age.

Written by a beat task on the default queue from the bot's books valued at its last price (the
same figures as the bot page and `GET /api/bots/{id}/pnl`), never by the runner; read by the
PnL-over-time charts (per bot, and summed per account).
"""

from __future__ import annotations

from django.db import models

from bots.models.fields import money_field
from bots.models.gridbots import GridBot


class PnlSnapshot(models.Model):
    """A bot's PnL split at one time; amounts in quote (USDC), `position` in base units."""

    bot = models.ForeignKey(GridBot, on_delete=models.CASCADE, related_name="pnl_snapshots")
    # The minute the snapshot run started (UTC, seconds zeroed): every bot of one run shares it.
    time = models.DateTimeField()
    total = money_field()
    realized = money_field()
    inventory = money_field()  # unrealized PnL of the bot's own position at `mark`
    fees = money_field()
    funding = money_field()
    position = money_field()
    mark = money_field(null=True, blank=True)

    class Meta:
        ordering = ("bot", "time")
        constraints = [
            models.UniqueConstraint(fields=("bot", "time"), name="pnl_snapshot_bot_time_unique")
        ]

    def __str__(self) -> str:
        return f"{self.bot_id} @ {self.time:%Y-%m-%d %H:%M}: {self.total}"
