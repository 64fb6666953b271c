"""First-run paper provisioning: a simulator config with a real key, the account, markets, bots."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from bots.models import Bot, ExchangeAccount, GridBot, HedgeBot, Market
from bots.provisioning import (
    PAPER_ACCOUNT_INDEX,
    PAPER_HEDGE_MAKER_ACCOUNT_INDEX,
    PAPER_TAKER_ACCOUNT_INDEX,
    paper_provision,
)
from bots.services import bot_start
from tests.plugins.simulator import run_simulator

pytestmark = pytest.mark.django_db


@pytest.fixture
def config_path(settings, tmp_path) -> Path:
    path = tmp_path / "sim-config.json"
    settings.PAPER_SIM_CONFIG = str(path)
    return path


def test_first_run_creates_the_account_markets_and_three_stopped_bots(config_path):
    report = paper_provision()

    assert (report.config_written, report.account_created, report.bots_created) == (True, True, 3)
    account = ExchangeAccount.objects.get(account_index=PAPER_ACCOUNT_INDEX)
    assert account.network == "paper" and account.has_api_private_key
    assert sorted(Market.objects.filter(network="paper").values_list("symbol", flat=True)) == [
        "BTC",
        "ETH",
        "SOL",
    ]
    bots = GridBot.objects.filter(account=account)
    assert sorted(b.market.symbol for b in bots) == ["BTC", "ETH", "SOL"]
    assert {(b.desired_state, b.status) for b in bots} == {("stopped", "stopped")}


def test_the_bots_pass_the_admin_validation_and_step_with_the_price(config_path):
    paper_provision()

    for bot in GridBot.objects.select_related("market"):
        bot.full_clean()
        assert bot.step / bot.market.last_price == pytest.approx(Decimal("0.0005"), rel=0.05)


def test_a_second_run_changes_nothing(config_path):
    paper_provision()
    key_before = ExchangeAccount.objects.get(
        account_index=PAPER_ACCOUNT_INDEX
    ).api_private_key_encrypted
    config_before = config_path.read_text()

    report = paper_provision()

    assert (report.config_written, report.account_created, report.bots_created) == (False, False, 0)
    assert (
        ExchangeAccount.objects.get(account_index=PAPER_ACCOUNT_INDEX).api_private_key_encrypted
        == key_before
    )
    assert config_path.read_text() == config_before
    assert GridBot.objects.count() == 3


def test_a_lost_simulator_config_re_keys_the_account(config_path):
    paper_provision()
    config_path.unlink()

    report = paper_provision()

    assert report.account_rekeyed and not report.account_created
    assert ExchangeAccount.objects.count() == 3  # the grids' account and the hedge's two
    assert GridBot.objects.count() == 3


def test_the_config_holds_only_the_public_key(config_path):
    paper_provision()
    private_key = ExchangeAccount.objects.get(
        account_index=PAPER_ACCOUNT_INDEX
    ).decrypt_api_private_key()

    text = config_path.read_text()

    assert private_key not in text and private_key.removeprefix("0x") not in text


def test_the_provisioned_key_signs_for_the_simulator_that_loads_the_config(
    config_path, settings, redis_url
):
    settings.REDIS_URL = redis_url
    paper_provision()
    account = ExchangeAccount.objects.get(account_index=PAPER_ACCOUNT_INDEX)
    config = json.loads(config_path.read_text())
    config["price_paths"] = {m: {"kind": "flat"} for m in ("0", "1", "2")}

    simulator: Iterator = run_simulator(config)
    sim = next(simulator)
    try:
        account.base_url_override = sim.base_url
        account.tier = "premium"

        async def check() -> Decimal:
            async with account.client() as client:
                await client.check_api_key()
                return (await client.account()).collateral

        assert asyncio.run(check()) == Decimal("100000")
    finally:
        simulator.close()


def test_the_command_reports_what_it_did(config_path):
    out = StringIO()

    call_command("provision_paper", stdout=out)
    call_command("provision_paper", stdout=out)

    assert "3 stopped paper grid bots created" in out.getvalue()
    assert "already in place" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_provisioned_bot_started_on_the_provisioned_simulator_places_its_grid(
    config_path, settings, redis_url, redis_client
):
    # redis_client flushes the test Redis: the paper account's index and address are fixed, so
    # nonces and budgets of an earlier simulator with the same account must not leak in.
    import threading

    from bots import services
    from bots.tasks import run_bot_task
    from tests.bots.runner_support import sim_open_orders
    from tests.bots.test_tasks import wait_for

    settings.REDIS_URL = redis_url
    paper_provision()
    account = ExchangeAccount.objects.get(account_index=PAPER_ACCOUNT_INDEX)
    bot = GridBot.objects.get(market__symbol="ETH")
    # The provisioned config as start.sh's sim loads it: standard tier, rate limits, GBM prices.
    simulator = run_simulator(json.loads(config_path.read_text()), manual_clock=False)
    sim = next(simulator)
    try:
        ExchangeAccount.objects.filter(pk=account.pk).update(base_url_override=sim.base_url)
        services.bot_start(GridBot.objects.get(pk=bot.pk), actor="newcomer")
        runner = threading.Thread(target=run_bot_task, args=(bot.pk,))
        runner.start()
        try:
            wait_for(
                lambda: (
                    len(sim_open_orders(sim, PAPER_ACCOUNT_INDEX, 0)) == 2 * bot.levels_per_side
                ),
                30,
                "the paper grid on the simulator",
            )
        finally:
            GridBot.objects.filter(pk=bot.pk).update(desired_state="stopped")
            runner.join(timeout=30)
        assert GridBot.objects.get(pk=bot.pk).status == "stopped"
        assert sim_open_orders(sim, PAPER_ACCOUNT_INDEX, 0) == []
    finally:
        simulator.close()


def test_paper_tier_premium_makes_the_paper_account_premium_in_the_db_and_the_venue(
    settings, config_path
):
    settings.PAPER_TIER = "premium"
    paper_provision()

    account = ExchangeAccount.objects.get(network="paper", account_index=PAPER_ACCOUNT_INDEX)
    (entry,) = [a for a in json.loads(config_path.read_text())["accounts"] if a["index"] == 100]
    assert (account.tier, entry["tier"]) == ("premium", "premium")


def test_switching_the_paper_tier_keeps_the_key(settings, config_path):
    paper_provision()
    key_before = ExchangeAccount.objects.get(
        network="paper", account_index=PAPER_ACCOUNT_INDEX
    ).decrypt_api_private_key()

    settings.PAPER_TIER = "premium"
    report = paper_provision()

    account = ExchangeAccount.objects.get(network="paper", account_index=PAPER_ACCOUNT_INDEX)
    (entry,) = [a for a in json.loads(config_path.read_text())["accounts"] if a["index"] == 100]
    assert (account.tier, entry["tier"]) == ("premium", "premium")
    assert account.decrypt_api_private_key() == key_before
    assert not report.account_rekeyed


def test_first_run_adds_a_taker_account_and_a_stopped_eth_hedge_bot(config_path):
    report = paper_provision()

    assert (report.taker_account_created, report.hedge_bots_created) == (True, 1)
    hedge = HedgeBot.objects.select_related("account", "taker_account", "market").get()
    assert (hedge.name, hedge.market.symbol) == ("ETH hedge (paper)", "ETH")
    assert hedge.account.account_index == PAPER_HEDGE_MAKER_ACCOUNT_INDEX
    assert hedge.taker_account.account_index == PAPER_TAKER_ACCOUNT_INDEX
    assert hedge.account.has_api_private_key and hedge.taker_account.has_api_private_key
    assert (hedge.desired_state, hedge.status) == ("stopped", "stopped")
    hedge.full_clean()
    configured = {a["index"] for a in json.loads(config_path.read_text())["accounts"]}
    assert {PAPER_ACCOUNT_INDEX, PAPER_TAKER_ACCOUNT_INDEX, PAPER_HEDGE_MAKER_ACCOUNT_INDEX} <= (
        configured
    )


def test_the_three_grids_and_the_hedge_bot_all_start_together(config_path):
    """A new user starts every demo bot at once: the hedge does not share an account and market
    with a grid (it used to be refused while the ETH grid ran)."""
    paper_provision()

    for grid in GridBot.objects.all():
        bot_start(grid, actor="test")
    hedge = bot_start(HedgeBot.objects.get(), actor="test")

    assert hedge.desired_state == "running"
    assert set(Bot.objects.values_list("desired_state", flat=True)) == {"running"}


def test_a_second_run_adds_no_second_hedge_bot_or_taker(config_path):
    paper_provision()

    report = paper_provision()

    assert (report.taker_account_created, report.hedge_bots_created) == (False, 0)
    assert HedgeBot.objects.count() == 1
