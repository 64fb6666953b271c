"""Admin of the candle store and of backtests, end to end through the admin's views: upload
(good and bad: the import job, its progress page and state, its report or the row at fault),
coverage, the "Backtest" action's range form, the run, the result page and
"create a bot from this config"."""

from __future__ import annotations

import threading
from decimal import Decimal as D

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import TestCase
from django.urls import reverse

from bots.backtest import imports, runs
from bots.backtest.synthetic import gbm_candles
from bots.models import Backtest, Candle, GridBot
from tests.lighterweb.factories import make_account, make_bot, make_market

pytestmark = pytest.mark.django_db
T0 = 1_735_689_600  # 2025-01-01 00:00 UTC


@pytest.fixture(autouse=True)
def _redis_and_upload_dir(settings, redis_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = redis_url
    settings.CANDLE_UPLOAD_DIR = tmp_path / "uploads"


def csv_upload(text: str | bytes) -> SimpleUploadedFile:
    data = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile("candles.csv", data, content_type="text/csv")


def upload(admin_client, text: str | bytes, market: str = "0"):  # type: ignore[no-untyped-def]
    """Post the upload form, run the queued import as the worker would, and return the job's
    progress page and its polled state."""
    with TestCase.captureOnCommitCallbacks(using=connection.alias, execute=False) as queued:
        response = admin_client.post(
            reverse("admin:bots_candle_upload"),
            {"network": "paper", "market": market, "file": csv_upload(text)},
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert len(queued) == 1  # candles_import_task, once the request committed
    job_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    queued_page = admin_client.get(response["Location"]).content.decode()
    assert 'id="import-progress"' in queued_page and "queued" in queued_page
    imports.import_run(job_id)
    state = admin_client.get(reverse("admin:bots_candle_import_state", args=[job_id])).json()
    return admin_client.get(response["Location"]).content.decode(), state


def gbm_csv(minutes: int) -> str:
    s = gbm_candles(minutes, seed=5, start_price=4000.0, volatility=1.5, start_ms=T0 * 1000)
    lines = ["timestamp,open,high,low,close,volume"]
    for t, o, h, low, c in zip(s.times, s.opens, s.highs, s.lows, s.closes, strict=True):
        lines.append(f"{t},{o},{h},{low},{c},1")
    return "\n".join(lines) + "\n"


def test_upload_then_coverage(admin_client) -> None:  # type: ignore[no-untyped-def]
    make_market(network="paper", market_id=0, symbol="ETH")
    text = "timestamp,open,high,low,close\n" + "".join(
        f"{T0 + 60 * m},100,101,99,100\n" for m in (0, 1, 2, 5, 5)
    )
    page, state = upload(admin_client, text, market="ETH")
    assert state["state"] == "done" and state["progress"] == 100 and state["finished"]
    assert state["lines"][0].startswith("5 rows read, 4 candles stored, 0 already stored, 1 dupl")
    assert "1 gaps in the file (2 minutes missing)" in page
    assert "Importing candles.csv into ETH (0) (paper)" in page
    assert Candle.objects.filter(network="paper", market_id=0).count() == 4
    cover = admin_client.get(reverse("admin:bots_candle_changelist")).content.decode()
    assert "ETH (0)" in cover
    assert "2025-01-01 00:00 .. 2025-01-01 00:02" in cover
    assert "2025-01-01 00:05" in cover  # last minute
    # The uploaded file is gone once imported.
    assert not any(imports._path(state["id"]).parent.iterdir())


def test_bad_upload_names_row_and_field(admin_client) -> None:  # type: ignore[no-untyped-def]
    url = reverse("admin:bots_candle_upload")
    text = f"timestamp,open,high,low,close\n{T0},100,101,99,100\n{T0 + 60},100,oops,99,100\n"
    page, state = upload(admin_client, text)
    assert state["state"] == "failed" and state["lines"] == []
    assert state["error"] == "row 3, field 'high': not a number: 'oops'"
    assert "row 3, field &#x27;high&#x27;: not a number" in page
    _, state = upload(admin_client, b"timestamp,open,high,low,close\n\xff\xfe,1,1,1,1\n")
    assert state["error"] == "The file is not UTF-8 text."
    # An unknown market is refused on the form, before anything is queued.
    response = admin_client.post(
        url, {"network": "paper", "market": "NOPE", "file": csv_upload(text)}
    )
    assert "no market &#x27;NOPE&#x27; on paper" in response.content.decode()
    assert Candle.objects.count() == 0
    unknown = reverse("admin:bots_candle_import_state", args=["0" * 32])
    assert admin_client.get(unknown).status_code == 404


def test_the_polled_state_moves_forward_while_the_import_runs(  # type: ignore[no-untyped-def]
    admin_client, monkeypatch, redis_client
) -> None:
    """What the page's bar polls: the percentage only grows through reading then storing; a
    re-upload of the same file stores nothing new."""
    monkeypatch.setattr(imports, "SAVE_EVERY_S", 0)  # every line's progress is saved
    monkeypatch.setattr(imports, "STORE_CHUNK", 500)
    seen: list[tuple[str, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for key in redis_client.scan_iter(imports.JOB_KEY.format("*")):
                job = imports.import_get(key.decode().rsplit(":", 1)[1])
                if job is not None and (job.phase, job.progress) not in seen[-1:]:
                    seen.append((job.phase, job.progress))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        _, state = upload(admin_client, gbm_csv(2000))
    finally:
        stop.set()
        watcher.join()
    assert state["state"] == "done"
    assert state["lines"][0].startswith("2000 rows read, 2000 candles stored")
    percents = [p for _, p in seen]
    assert percents == sorted(percents)
    assert any(phase == "reading the file" and 0 < p < 50 for phase, p in seen)
    _, again = upload(admin_client, gbm_csv(2000))
    assert again["lines"][0].startswith("2000 rows read, 0 candles stored, 2000 already stored")


def test_backtest_action_run_result_and_bot_from_config(  # type: ignore[no-untyped-def]
    admin_client, django_capture_on_commit_callbacks
) -> None:
    market = make_market(network="paper", market_id=0, symbol="ETH", last_price=D("4000"))
    bot = make_bot(make_account(), market, step=D("4"), levels_per_side=3, size=D("0.01"))
    upload(admin_client, gbm_csv(600))
    changelist = reverse("admin:bots_gridbot_changelist")
    form = admin_client.post(
        changelist, {"action": "backtest_action", "_selected_action": [bot.pk]}
    )
    assert form.status_code == 200
    assert 'value="2025-01-01"' in form.content.decode()  # the stored range is offered
    bad = admin_client.post(
        changelist,
        {"action": "backtest_action", "_selected_action": [bot.pk], "confirm": "1",
         "start": "2025-01-02", "end": "2025-01-01", "tier": "premium", "slippage_bps": "5"},
    )  # fmt: skip
    assert "The end is before the start." in bad.content.decode()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        done = admin_client.post(
            changelist,
            {"action": "backtest_action", "_selected_action": [bot.pk], "confirm": "1",
             "start": "2025-01-01", "end": "2025-01-01", "tier": "premium", "slippage_bps": "5"},
        )  # fmt: skip
    backtest = Backtest.objects.get()
    assert done.status_code == 302
    assert done["Location"] == reverse("admin:bots_backtest_change", args=[backtest.pk])
    assert len(queued) == 1  # the Celery task, sent once the row is committed
    assert backtest.status == "queued" and backtest.config["step"] == "4.0000000000"
    assert runs.backtest_execute(backtest.pk) == "done"
    backtest.refresh_from_db()
    assert backtest.progress == 100
    assert backtest.results["candles"] == 600
    assert backtest.results["fill_count"] > 0
    assert len(backtest.fills) == backtest.results["fill_count"]
    page = admin_client.get(done["Location"]).content.decode()
    assert "Grid profit" in page and backtest.results["total"] in page
    assert 'id="backtest-data"' in page and "lightweight-charts" in page
    # Running it again is a no-op (the task may be delivered twice).
    assert runs.backtest_execute(backtest.pk) == "done"
    created = admin_client.post(reverse("admin:bots_backtest_create_bot", args=[backtest.pk]))
    new = GridBot.objects.exclude(pk=bot.pk).get()
    assert created["Location"] == reverse("admin:bots_gridbot_change", args=[new.pk])
    assert new.desired_state == "stopped" and new.name == f"{bot.name} (backtest {backtest.pk})"
    assert (new.step, new.levels_per_side, new.size, new.account_id) == (
        bot.step, bot.levels_per_side, bot.size, bot.account_id
    )  # fmt: skip


def test_backtest_without_candles_fails_with_a_reason() -> None:
    market = make_market(network="paper", market_id=0, symbol="ETH")
    bot = make_bot(make_account(), market)
    backtest = runs.backtest_create(bot, 0, 60_000, tier="standard", slippage_bps=D(5))
    assert runs.backtest_execute(backtest.pk) == "failed"
    backtest.refresh_from_db()
    assert "no stored candles" in backtest.error


def test_backtest_action_needs_one_bot(admin_client) -> None:  # type: ignore[no-untyped-def]
    market = make_market()
    account = make_account()
    bots = [make_bot(account, market, name=f"b{i}") for i in range(2)]
    response = admin_client.post(
        reverse("admin:bots_gridbot_changelist"),
        {"action": "backtest_action", "_selected_action": [b.pk for b in bots]},
        follow=True,
    )
    assert "Select exactly one bot to backtest." in response.content.decode()


def test_a_crash_marks_the_backtest_failed() -> None:
    market = make_market(network="paper", market_id=0, symbol="ETH")
    bot = make_bot(make_account(), market)
    backtest = runs.backtest_create(bot, 0, 60_000, tier="standard", slippage_bps=D(5))
    # A snapshot no GridBot field accepts: building the config raises TypeError, not ValueError.
    Backtest.objects.filter(pk=backtest.pk).update(
        config={**backtest.config, "levels_per_side": []}
    )
    with pytest.raises(TypeError):
        runs.backtest_execute(backtest.pk)
    backtest.refresh_from_db()
    assert backtest.status == "failed" and "internal error" in backtest.error


def test_running_page_shows_progress_and_reloads(admin_client) -> None:  # type: ignore[no-untyped-def]
    market = make_market(network="paper", market_id=0, symbol="ETH")
    backtest = runs.backtest_create(
        make_bot(make_account(), market), 0, 60_000, tier="standard", slippage_bps=D(5)
    )
    Backtest.objects.filter(pk=backtest.pk).update(status="running", progress=40)
    page = admin_client.get(reverse("admin:bots_backtest_change", args=[backtest.pk]))
    html = page.content.decode()
    assert '<progress max="100" value="40">' in html
    assert 'http-equiv="refresh"' in html
    assert 'id="backtest-data"' not in html


def test_venue_mode_from_the_range_form_matches_the_fill_model(  # type: ignore[no-untyped-def]
    admin_client, django_capture_on_commit_callbacks
) -> None:
    market = make_market(network="paper", market_id=0, symbol="ETH", last_price=D("4000"))
    bot = make_bot(make_account(), market, step=D("4"), levels_per_side=3, size=D("0.01"))
    upload(admin_client, gbm_csv(120))
    changelist = reverse("admin:bots_gridbot_changelist")
    form = admin_client.post(
        changelist, {"action": "backtest_action", "_selected_action": [bot.pk]}
    ).content.decode()
    assert 'name="mode"' in form and "matching engine" in form
    fields = {
        "action": "backtest_action",
        "_selected_action": [bot.pk],
        "confirm": "1",
        "start": "2025-01-01",
        "end": "2025-01-01",
        "tier": "premium",
        "slippage_bps": "5",
    }
    bad = admin_client.post(changelist, {**fields, "mode": "guess"}).content.decode()
    assert "Select a valid choice. guess is not one of the available choices." in bad
    with django_capture_on_commit_callbacks(execute=False):
        for mode in ("venue", "fill_model"):
            admin_client.post(changelist, {**fields, "mode": mode})
    venue_run, fill_run = Backtest.objects.order_by("pk")
    assert (venue_run.mode, fill_run.mode) == ("venue", "fill_model")
    assert runs.backtest_execute(venue_run.pk) == runs.backtest_execute(fill_run.pk) == "done"
    venue_run.refresh_from_db()
    fill_run.refresh_from_db()
    assert venue_run.results["fill_count"] > 0
    assert venue_run.results == fill_run.results
    assert venue_run.fills == fill_run.fills
    page = admin_client.get(reverse("admin:bots_backtest_change", args=[venue_run.pk]))
    assert "Mode: Venue (the simulator&#x27;s matching engine; slower)" in page.content.decode()


def test_collateral_from_the_form_liquidates_in_both_modes(  # type: ignore[no-untyped-def]
    admin_client, django_capture_on_commit_callbacks
) -> None:
    # The kernel test's margin series (falls from 100 to 82) on a 100-priced market: grid step
    # 10, 2 levels of 1 base, leverage 20, collateral 8: the long bought at 90 is liquidated at 82.
    market = make_market(network="paper", market_id=0, symbol="ETH", last_price=D("100"))
    bot = make_bot(make_account(), market, step=D("10"), levels_per_side=2, size=D("1"),
                   leverage=D("20"), max_position_notional=D("1000"))  # fmt: skip
    rows = [(0, 100, 100, 95, 95), (1, 95, 95, 90, 91), (2, 91, 91, 82, 84), (3, 84, 90, 80, 88)]
    text = "timestamp,open,high,low,close\n" + "".join(
        f"{T0 + 60 * m},{o},{h},{low},{c}\n" for m, o, h, low, c in rows
    )
    upload(admin_client, text)
    changelist = reverse("admin:bots_gridbot_changelist")
    fields = {
        "action": "backtest_action",
        "_selected_action": [bot.pk],
        "confirm": "1",
        "start": "2025-01-01",
        "end": "2025-01-01",
        "tier": "standard",
        "slippage_bps": "5",
    }
    bad = admin_client.post(changelist, {**fields, "collateral": "0"}).content.decode()
    assert "Ensure this value is greater than or equal to 0.01." in bad
    with django_capture_on_commit_callbacks(execute=False):
        for mode in ("fill_model", "venue"):
            admin_client.post(changelist, {**fields, "mode": mode, "collateral": "8"})
    for backtest in Backtest.objects.order_by("pk"):
        assert backtest.config["collateral"] == "8"
        assert runs.backtest_execute(backtest.pk) == "done"
        backtest.refresh_from_db()
        assert backtest.results["halted"] == "liquidation"
        assert backtest.results["total"] == "-8.00"
        assert backtest.results["halt_reason"] == (
            "liquidated at 82 on 2025-01-01 00:02: equity 0.00 below the maintenance margin 0.98"
        )
        page = admin_client.get(reverse("admin:bots_backtest_change", args=[backtest.pk]))
        assert backtest.results["halt_reason"] in page.content.decode()


def test_partial_fills_from_the_admin_form_bound_fills_by_stored_volume(  # type: ignore[no-untyped-def]
    admin_client, django_capture_on_commit_callbacks
) -> None:
    """The range form's partial-fill share reaches the kernel with the stored volumes: the
    same day with a share of 1 % of a volume of 0.5 ETH a minute fills at most 0.005 ETH a
    minute, so no fill is the grid's whole 0.01; the form refuses the share in venue mode."""
    market = make_market(network="paper", market_id=0, symbol="ETH", last_price=D("4000"))
    bot = make_bot(make_account(), market, step=D("4"), levels_per_side=3, size=D("0.01"))
    text = gbm_csv(600).replace(",1\n", ",0.5\n")
    upload(admin_client, text)
    changelist = reverse("admin:bots_gridbot_changelist")
    fields = {"action": "backtest_action", "_selected_action": [bot.pk], "confirm": "1",
              "start": "2025-01-01", "end": "2025-01-01", "tier": "standard",
              "slippage_bps": "5"}  # fmt: skip
    venue = admin_client.post(changelist, {**fields, "mode": "venue", "volume_share": "1"})
    assert "Partial fills are a fill-model option." in venue.content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        admin_client.post(changelist, {**fields, "volume_share": "1"})
        admin_client.post(changelist, fields)
    partial, whole = Backtest.objects.order_by("pk")
    assert partial.config["volume_share"] == "0.01" and "volume_share" not in whole.config
    assert runs.backtest_execute(partial.pk) == "done"
    assert runs.backtest_execute(whole.pk) == "done"
    partial.refresh_from_db()
    whole.refresh_from_db()
    sizes = {D(f[3]) for f in partial.fills}
    assert sizes and max(sizes) <= D("0.005"), sizes
    assert {D(f[3]) for f in whole.fills} == {D("0.01")}
