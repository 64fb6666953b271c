"""The `telegram` process: answer operator commands sent to the Telegram bots (long polling).

Procfile line: `telegram: python manage.py telegram_poll`. SIGTERM or Ctrl-C ends it after the
current long poll (at most ~25 s). `--once` polls one round without waiting and exits.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from bots.notify import poller

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Answer Telegram commands (/status, /pnl, /bots, /pause, /stop, /emergency)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Answer what is waiting, then exit."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10)
            try:
                answered = poller.poll_round(client, wait_s=0)
            finally:
                client.close()
            self.stdout.write(f"Answered {answered or 0} command(s).")
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        logger.info("telegram: polling for commands")
        poller.poll_forever(stop)
        logger.info("telegram: stopped")
