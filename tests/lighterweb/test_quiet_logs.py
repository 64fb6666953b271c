"""An INFO log without routine lines: Celery's housekeeping tasks and the simulator's requests
go to DEBUG; failures and every other task stay visible."""

from __future__ import annotations

import logging
import time
import urllib.request

import pytest
from celery.app import trace

SUCCESS = {"id": "t-1", "runtime": 0.01, "return_value": None}


def _trace_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "celery.app.trace"]


def test_a_routine_task_succeeding_is_not_logged_at_info(caplog) -> None:
    caplog.set_level(logging.INFO)

    # Celery's own call, on its own logger, as a worker makes it after each task.
    trace.info(trace.LOG_SUCCESS, {**SUCCESS, "name": "bots.tasks.supervise_bots_task"})

    assert _trace_lines(caplog) == []


def test_other_tasks_and_failures_stay_at_their_level(caplog) -> None:
    caplog.set_level(logging.INFO)

    trace.info(trace.LOG_SUCCESS, {**SUCCESS, "name": "bots.tasks.run_bot_task"})
    failed = {"name": "bots.tasks.supervise_bots_task", "id": "t-2"}
    trace.logger.error("Task %(name)s[%(id)s] raised", failed)

    assert [(r.levelname, r.args["name"]) for r in _trace_lines(caplog)] == [
        ("INFO", "bots.tasks.run_bot_task"),
        ("ERROR", "bots.tasks.supervise_bots_task"),
    ]


def test_with_debug_logging_the_routine_lines_show_as_debug(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="celery.app.trace")

    trace.info(trace.LOG_SUCCESS, {**SUCCESS, "name": "bots.tasks.supervise_bots_task"})

    assert [r.levelname for r in _trace_lines(caplog)] == ["DEBUG"]


def test_simulator_requests_are_logged_at_debug_only(simulator, caplog) -> None:
    caplog.set_level(logging.INFO)
    with urllib.request.urlopen(simulator.base_url + "/api/v1/orderBooks", timeout=10) as reply:
        assert reply.status == 200

    caplog.set_level(logging.DEBUG, logger="aiohttp.access")
    with urllib.request.urlopen(simulator.base_url + "/", timeout=10) as reply:
        assert reply.status == 200
    # The server logs a request after answering it: wait for the second one's line.
    deadline = time.monotonic() + 10
    while not any("GET / " in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "the DEBUG access line never came"
        time.sleep(0.01)

    access = [r for r in caplog.records if r.name == "aiohttp.access"]
    assert [(r.levelname, r.getMessage().split(" 200 ")[0]) for r in access] == [("DEBUG", "GET /")]


@pytest.mark.django_db
def test_the_expected_503_of_healthz_while_starting_is_not_an_error(
    client, settings, redis_url, caplog
):
    # No worker and no beat (as while the processes start): the report is "degraded".
    settings.REDIS_URL = settings.CELERY_BROKER_URL = redis_url
    caplog.set_level(logging.INFO)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert [r.levelname for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("healthz degraded" in r.getMessage() for r in caplog.records)
