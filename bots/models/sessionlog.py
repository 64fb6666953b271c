"""The decision log of a bot's strategy core (`bots.engine.session_log`): what it saw, what it
decided, one `SessionChunk` per recorded burst, pruned with age and count."""

from __future__ import annotations

from typing import Any

from django.db import models


def _empty() -> dict[str, Any]:
    return {}


class SessionChunk(models.Model):
    """The core's inputs and decisions of one recorded burst, as JSON lines (one entry a line,
    see `bots.engine.session_log` for the format), with the core's state before the first one:
    any chunk is a point a replay can start from."""

    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="session_chunks")
    # Wall clock (epoch ms) of the first and last entry.
    first_ms = models.BigIntegerField()
    last_ms = models.BigIntegerField()
    count = models.PositiveIntegerField()
    # The core's state before the first entry: anchor, centre, position, book freshness.
    state = models.JSONField(default=_empty)
    # The core's config, on the chunk that opens a runner's session (else null).
    config = models.JSONField(null=True, blank=True)
    entries = models.TextField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["bot", "first_ms"], name="session_chunk_bot_time")]

    def __str__(self) -> str:
        return f"bot {self.bot_id} session chunk @ {self.first_ms} ({self.count} entries)"
