"""``python manage.py provision_paper``: the first-run paper account, markets and grid bots.

Idempotent; `scripts/start.sh` runs it before starting the simulator, which then loads the
account from `var/sim-config.json`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from bots.provisioning import paper_provision, sim_config_path


class Command(BaseCommand):
    """Create whatever of the paper setup is missing."""

    help = (
        "Provision two paper accounts on the local simulator, three stopped grid bots and a "
        "stopped hedge bot."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the provisioning and say what it did."""
        report = paper_provision()
        if report.account_created:
            self.stdout.write(
                "Paper account created with a new API key (registered with the simulator)."
            )
        elif report.account_rekeyed:
            self.stdout.write("Paper account re-keyed: the simulator config was missing its key.")
        if report.bots_created:
            self.stdout.write(
                f"{report.bots_created} stopped paper grid bots created (BTC, ETH, SOL)."
            )
        if report.taker_account_created:
            self.stdout.write("Paper B account created (the hedge bot's taker).")
        if report.hedge_maker_account_created:
            self.stdout.write("Paper hedge account created (the hedge bot's maker).")
        if report.hedge_bots_created:
            self.stdout.write(
                "A stopped 'ETH hedge (paper)' bot created (maker Paper hedge, taker Paper B)."
            )
        if not (
            report.account_created
            or report.account_rekeyed
            or report.bots_created
            or report.hedge_bots_created
        ):
            self.stdout.write(f"Paper setup already in place ({sim_config_path()}).")
