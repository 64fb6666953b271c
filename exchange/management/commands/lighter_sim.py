"""``python manage.py lighter_sim --port 8089 [--config FILE] [--state FILE] [--fresh] ...``.

Runs the Lighter-compatible simulator (an aiohttp app that itself needs no Django) until
interrupted. The venue is durable: it is restored from the state file (default
``settings.PAPER_SIM_STATE``, ``var/sim-state.json``) and saved there while it runs and on
SIGINT/SIGTERM; ``--fresh`` starts it over (ids still never repeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from exchange.simulator.clock import SimClock
from exchange.simulator.config import load_config
from exchange.simulator.loopback import is_loopback
from exchange.simulator.server import SimServer
from exchange.simulator.snapshot import SnapshotError

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    """Serve the simulator: REST, websocket ``/stream`` and ``/sim/`` on one port."""

    help = "Run the local Lighter-compatible exchange simulator."

    def add_arguments(self, parser: CommandParser) -> None:
        """Command-line options."""
        parser.add_argument("--host", default="127.0.0.1", help="a loopback address only")
        parser.add_argument("--port", type=int, default=8089)
        parser.add_argument("--config", default=None, help="JSON config (default: packaged)")
        parser.add_argument("--speed", type=float, default=1.0, help="simulated time multiplier")
        parser.add_argument("--seed", type=int, default=None, help="override the config's seed")
        parser.add_argument(
            "--no-rate-limits", action="store_true", help="switch the request budget off"
        )
        parser.add_argument(
            "--state",
            default=None,
            help="the venue's state file (default: settings.PAPER_SIM_STATE, var/sim-state.json)",
        )
        parser.add_argument(
            "--fresh",
            action="store_true",
            help="start the venue over instead of restoring the state file (which is replaced)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Build the server and run it until SIGINT/SIGTERM."""
        if not is_loopback(options["host"]):
            raise CommandError(
                f"--host {options['host']!r} is not a loopback address: the simulator's /sim/ "
                "endpoints control the venue without credentials, so it listens on 127.0.0.1 "
                "(or another loopback address) only"
            )
        config = load_config(options["config"])
        if options["seed"] is not None:
            config = dataclasses.replace(config, seed=options["seed"])
        clock = SimClock()
        if options["speed"] != 1.0:
            clock.set_speed(options["speed"])
        state_file = Path(options["state"] or settings.PAPER_SIM_STATE)
        try:
            server = SimServer(
                config,
                clock=clock,
                rate_limits=False if options["no_rate_limits"] else None,
                state_file=state_file,
                fresh=options["fresh"],
            )
        except SnapshotError as exc:
            # The file is kept: it may be the only record of the paper account.
            raise CommandError(
                f"cannot restore the simulator from {state_file}: {exc}. "
                "Fix the file, point --state elsewhere, or start over with --fresh."
            ) from exc
        asyncio.run(_serve(server, options["host"], options["port"]))


async def _serve(server: SimServer, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    bound = await server.start(host, port)
    logger.info("simulator ready: http://%s:%s  ws://%s:%s/stream", host, bound, host, bound)
    await stop.wait()
    await server.stop()
