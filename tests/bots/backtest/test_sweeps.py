"""Sweeps: every combination runs the same kernel as a single backtest (same numbers), progress,
cancel, combinations the grid refuses, the admin form's field errors, the table and heat map."""

from __future__ import annotations

import os
from decimal import Decimal as D

import pytest
from django.urls import reverse

from bots.backtest import csvfile, kernel, store, sweeps
from bots.backtest.runs import backtest_create, settings_of
from bots.backtest.synthetic import gbm_candles
from bots.models import BacktestSweep
from tests.lighterweb.factories import make_account, make_bot, make_market

pytestmark = pytest.mark.django_db
START = 1_735_689_600_000
PARAMS = {
    "spacing_mode": ["arithmetic"],
    "step": ["2", "4"],
    "levels_per_side": [2, 3],
    "size": ["0.01"],
}


@pytest.fixture
def bot():  # type: ignore[no-untyped-def]
    market = make_market(network="paper", market_id=0, symbol="ETH", last_price=D(4000))
    series = gbm_candles(400, seed=9, start_price=4000.0, volatility=1.5, start_ms=START)
    rows = [
        csvfile.CsvCandle(t, o, h, low, c, D(1))
        for t, o, h, low, c in zip(
            series.times, series.opens, series.highs, series.lows, series.closes, strict=True
        )
    ]
    store.import_parsed("paper", 0, csvfile.ParsedFile(rows, len(rows), 0, 0))
    return make_bot(make_account(), market, step=D("4"), levels_per_side=3, size=D("0.01"))


def test_sweep_rows_equal_single_backtests(bot) -> None:  # type: ignore[no-untyped-def]
    sweep = sweeps.sweep_create(
        bot, PARAMS, START, START + 400 * 60_000, tier="premium", slippage_bps=D(5)
    )
    assert sweeps.sweep_execute(sweep.pk) == "done"
    sweep.refresh_from_db()
    assert sweep.progress == 100 and len(sweep.results) == 4
    assert [(r["step"], r["levels_per_side"]) for r in sweep.results] == [
        ("2", "2"), ("2", "3"), ("4", "2"), ("4", "3")
    ]  # fmt: skip
    # The row of the bot's own settings is the single backtest of the bot, to the cent.
    single = backtest_create(bot, START, START + 400 * 60_000, tier="premium", slippage_bps=D(5))
    candles = store.load_candles("paper", 0, START, START + 400 * 60_000)
    expected = kernel.run(settings_of(single), candles).summary()
    (own,) = [r for r in sweep.results if (r["step"], r["levels_per_side"]) == ("4", "3")]
    assert own["total"] == expected["total"] and own["fill_count"] == expected["fill_count"]
    assert own["fill_count"] > 0
    levels, steps, cells = sweeps.heat_map(sweep.results)
    assert (levels, steps) == (["2", "3"], ["2", "4"])
    shades = [shade for row in cells for _, shade in row]
    assert min(shades) == 0 and max(shades) == 9


def test_refused_combination_is_a_row_with_its_error(bot) -> None:  # type: ignore[no-untyped-def]
    params = {**PARAMS, "step": ["0.001"], "levels_per_side": [2]}  # below the 0.01 tick
    sweep = sweeps.sweep_create(bot, params, START, START + 60 * 60_000, tier="standard",
                                slippage_bps=D(5))  # fmt: skip
    assert sweeps.sweep_execute(sweep.pk) == "done"
    sweep.refresh_from_db()
    (row,) = sweep.results
    assert "step" in row["error"]


def test_cancel_stops_between_configs(bot, admin_client) -> None:  # type: ignore[no-untyped-def]
    sweep = sweeps.sweep_create(bot, PARAMS, START, START + 60 * 60_000, tier="standard",
                                slippage_bps=D(5))  # fmt: skip
    BacktestSweep.objects.filter(pk=sweep.pk).update(status="running")
    response = admin_client.post(reverse("admin:bots_backtestsweep_cancel", args=[sweep.pk]))
    assert response.status_code == 302
    BacktestSweep.objects.filter(pk=sweep.pk).update(status="queued")  # as the task finds it
    assert sweeps.sweep_execute(sweep.pk) == "cancelled"
    sweep.refresh_from_db()
    assert sweep.status == "cancelled" and sweep.results == []
    # A queued sweep is cancelled at once.
    other = sweeps.sweep_create(bot, PARAMS, START, START + 60 * 60_000, tier="standard",
                                slippage_bps=D(5))  # fmt: skip
    admin_client.post(reverse("admin:bots_backtestsweep_cancel", args=[other.pk]))
    other.refresh_from_db()
    assert other.status == "cancelled"
    assert sweeps.sweep_execute(other.pk) == "cancelled"


def test_sweep_action_form_errors_then_page(  # type: ignore[no-untyped-def]
    bot, admin_client, django_capture_on_commit_callbacks
) -> None:
    changelist = reverse("admin:bots_gridbot_changelist")
    form = admin_client.post(changelist, {"action": "sweep_action", "_selected_action": [bot.pk]})
    assert form.status_code == 200 and 'value="Run the sweep"' in form.content.decode()
    base = {"action": "sweep_action", "_selected_action": [bot.pk], "confirm": "1",
            "start": "2025-01-01", "end": "2025-01-01", "tier": "standard", "slippage_bps": "5",
            "spacing_modes": ["arithmetic"], "steps": "2, 4", "levels": "2,3",
            "sizes": "0.01"}  # fmt: skip
    bad = admin_client.post(changelist, {**base, "steps": "2, x", "levels": "0"})
    page = bad.content.decode()
    assert "&#x27;x&#x27; is not a number." in page
    assert "&#x27;0&#x27; is not a whole number from 1 to 100." in page
    many = {"steps": ",".join(str(i) for i in range(1, 30)),
            "levels": ",".join(str(i) for i in range(1, 20))}  # fmt: skip
    big = admin_client.post(changelist, {**base, **many})
    assert "551 combinations: at most 400 in one sweep." in big.content.decode()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        done = admin_client.post(changelist, base)
    sweep = BacktestSweep.objects.get()
    assert len(queued) == 1
    assert done["Location"] == reverse("admin:bots_backtestsweep_change", args=[sweep.pk])
    assert sweep.params == PARAMS
    running = admin_client.get(done["Location"]).content.decode()
    assert "Cancel the sweep" in running and 'http-equiv="refresh"' in running
    assert sweeps.sweep_execute(sweep.pk) == "done"
    page = admin_client.get(done["Location"]).content.decode()
    assert 'id="sweep-heat"' in page and 'id="sweep-results"' in page
    assert "Cancel the sweep" not in page and "http-equiv" not in page


def _run(bot, processes: int) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    params = {**PARAMS, "step": ["0.001", "2", "4", "8"], "levels_per_side": [2, 3, 5]}
    sweep = sweeps.sweep_create(bot, params, START, START + 400 * 60_000, tier="premium",
                                slippage_bps=D(5))  # fmt: skip
    assert sweeps.sweep_execute(sweep.pk, processes=processes) == "done"
    sweep.refresh_from_db()
    assert sweep.progress == 100
    return sweep.results  # type: ignore[no-any-return]


def test_parallel_rows_equal_the_serial_rows_to_the_cent(bot) -> None:  # type: ignore[no-untyped-def]
    serial = _run(bot, processes=1)
    assert len(serial) == 12 and sum("error" in row for row in serial) == 3  # the 0.001 steps
    assert _run(bot, processes=2) == serial
    assert _run(bot, processes=3) == serial  # more processes than cores: the same rows


def test_every_config_reports_once_and_the_process_count_follows_the_setting(bot) -> None:  # type: ignore[no-untyped-def]
    from bots.backtest import parallel

    candles = store.load_candles("paper", 0, START, START + 400 * 60_000)
    sweep = sweeps.sweep_create(bot, PARAMS, START, START, tier="standard", slippage_bps=D(5))
    configs = [sweeps._settings(sweep, combo) for combo in sweeps.combinations(PARAMS)]
    reported: list[int] = []
    finished = parallel.run_configs(configs, candles, {}, sweeps.FIGURES, processes=2,
                                    stop=lambda: False,
                                    done=lambda index, row: reported.append(index))  # fmt: skip
    assert finished and sorted(reported) == [0, 1, 2, 3]
    assert parallel.processes_for(0, 100) == (os.cpu_count() or 1)
    assert parallel.processes_for(3, 2) == 2 and parallel.processes_for(1, 9) == 1


def test_cancel_during_an_in_process_config_ends_it(bot) -> None:  # type: ignore[no-untyped-def]
    from bots.backtest import parallel

    candles = store.load_candles("paper", 0, START, START + 400 * 60_000)
    sweep = sweeps.sweep_create(bot, PARAMS, START, START, tier="standard", slippage_bps=D(5))
    config = sweeps._settings(sweep, sweeps.combinations(PARAMS)[0])
    asked: list[int] = []

    def stop() -> bool:  # cancelled once the first config is under way
        asked.append(1)
        return len(asked) > 3

    reported: list[int] = []
    finished = parallel.run_configs(
        [config, config], candles, {}, sweeps.FIGURES, processes=1, stop=stop,
        done=lambda index, row: reported.append(index),
    )  # fmt: skip
    assert not finished and reported == []  # the first config never finished
