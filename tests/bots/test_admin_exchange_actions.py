"""The admin's exchange actions against the simulator, run by a real default-queue worker
(bots.admin_jobs): the page returns at once, follows the job, and shows its result or a clear
failure (never a traceback, never a key)."""

import logging
import threading
import time
from collections.abc import Iterator

import pytest
from django.urls import reverse

from bots import admin_jobs
from bots.admin_accounts import SESSION_JOBS
from bots.models import ExchangeAccount, KeyMode, Market
from bots.tasks import admin_account_job_task
from lighterweb.redis_server import free_port
from tests.bots import worker_support
from tests.browser import live_stack
from tests.lighterweb.factories import api_key_hex, make_account

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LOG = live_stack.ARTIFACTS / "admin-jobs" / "worker.log"
JOB_WITHIN_S = 60.0


@pytest.fixture(scope="module")
def worker(redis_url: str) -> Iterator[object]:
    with worker_support.default_worker(redis_url, LOG) as process:
        yield process


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url, worker):
    settings.REDIS_URL = redis_url


@pytest.fixture
def account(simulator, funded_account):
    account = make_account(
        base_url_override=simulator.base_url,
        tier="premium",
        account_index=None,
        api_key_index=funded_account.api_key_index,
        l1_address=funded_account.l1_address,
    )
    account.set_api_private_key(funded_account.private_key)
    account.save()
    return account


CHANGELIST = "admin:bots_exchangeaccount_changelist"


def _act(admin_client, action, account, follow=True):
    return admin_client.post(
        reverse(CHANGELIST), {"action": action, "_selected_action": [account.pk]}, follow=follow
    )


def _finished(admin_client) -> list[dict]:
    """Poll the page's job states until none is queued or running; the jobs as last read."""
    url = reverse("admin:bots_exchangeaccount_jobs")
    deadline = time.monotonic() + JOB_WITHIN_S
    pause = threading.Event()
    while True:
        jobs = admin_client.get(url).json()["jobs"]
        if jobs and all(job["state"] in ("done", "failed") for job in jobs):
            return jobs
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs unfinished after {JOB_WITHIN_S} s: {jobs}; see {LOG}")
        pause.wait(0.1)


def _run(admin_client, action, account):
    """Queue `action` (the action answers with a redirect at once), wait for the worker, then
    load the changelist: (the action's response, the jobs, the page)."""
    queued = _act(admin_client, action, account, follow=False)
    assert queued.status_code == 302
    jobs = _finished(admin_client)
    return queued, jobs, admin_client.get(reverse(CHANGELIST))


def test_look_up_then_test_connection_run_on_the_worker(admin_client, account, funded_account):
    _, [looked_up], page = _run(admin_client, "look_up_account_index", account)

    assert "Look up account index queued; its progress shows below." in page.text
    assert looked_up["state"] == "done"
    assert f"account index {funded_account.index} found" in page.text
    account.refresh_from_db()
    assert account.account_index == funded_account.index

    _, [checked], page = _run(admin_client, "test_connection", account)

    assert checked["state"] == "done"
    assert "Test connection: connection ok" in page.text
    account.refresh_from_db()
    assert account.last_checked_at is not None and account.last_error == ""
    key = funded_account.private_key.removeprefix("0x").lower()
    for text in (page.text, str(checked), LOG.read_text()):
        assert key not in text.lower()
    # A finished job is a message once; the next page shows neither it nor the job list.
    again = admin_client.get(reverse(CHANGELIST)).text
    assert "connection ok" not in again and "lw-admin-jobs" not in again


def test_the_changelist_lists_a_job_until_it_finishes(admin_client, account):
    # A job stored but not yet sent: what the page shows while it waits for a worker.
    job = admin_jobs.job_start("sync_markets", account, enqueue=lambda job_id: None)
    session = admin_client.session
    session[SESSION_JOBS] = [job.id]
    session.save()

    waiting = admin_client.get(reverse(CHANGELIST)).text

    assert 'id="lw-admin-jobs"' in waiting
    assert f'data-job-id="{job.id}" data-state="queued"' in waiting
    assert "waiting for a worker" in waiting and "admin_jobs.js" in waiting

    admin_account_job_task.delay(job.id)
    [done] = _finished(admin_client)
    page = admin_client.get(reverse(CHANGELIST)).text

    assert done["state"] == "done"
    assert f"Sync markets: {done['message']}." in page
    assert "markets synced" in done["message"]
    assert 'id="lw-admin-jobs"' not in page
    assert Market.objects.filter(network="paper", symbol="ETH").exists()


def test_a_refused_test_connection_is_a_clear_message(admin_client, account):
    _, [job], page = _run(admin_client, "test_connection", account)

    # The account index is still unknown: refused before reaching the exchange.
    assert job["state"] == "failed"
    assert "Test connection failed: Set the account index" in page.text
    assert ExchangeAccount.objects.get(pk=account.pk).last_checked_at is None


def test_an_unreachable_host_is_a_clear_failure_not_a_traceback(admin_client, account):
    ExchangeAccount.objects.filter(pk=account.pk).update(
        base_url_override=f"http://127.0.0.1:{free_port()}"  # nothing listens there
    )

    _, [job], page = _run(admin_client, "look_up_account_index", account)

    assert job["state"] == "failed"
    assert "Look up account index failed:" in page.text
    assert "cannot reach Lighter at http://127.0.0.1:" in job["message"]
    assert "Traceback" not in page.text and "Traceback" not in job["message"]
    assert ExchangeAccount.objects.get(pk=account.pk).account_index is None


def test_a_rejected_key_fails_without_showing_it(admin_client, account, funded_account, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = api_key_hex()
    account.account_index = funded_account.index
    account.set_api_private_key(wrong)
    account.save()

    _, [job], page = _run(admin_client, "test_connection", account)

    assert job["state"] == "failed"
    assert "Test connection failed:" in page.text
    assert "rejected" in job["message"] and "does not match" in job["message"]
    assert "Traceback" not in page.text
    for text in (page.text, str(job), LOG.read_text(), caplog.text):
        assert wrong.removeprefix("0x").lower() not in text.lower()


def test_a_locked_key_is_checked_in_the_web_process(admin_client, account):
    ExchangeAccount.objects.filter(pk=account.pk).update(key_mode=KeyMode.LOCKED)

    response = _act(admin_client, "test_connection", account)

    # Its key lives only in the web process: nothing queued, the answer on this page.
    assert "queued" not in response.text
    assert "lw-admin-jobs" not in response.text
