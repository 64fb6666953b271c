"""Admin actions that talk to the exchange, run as Celery tasks instead of blocking the page.

"Look up account index from L1 address", "Sync markets" and "Test connection" wait on the
exchange (seconds; ~11 s when a host does not answer). The admin action queues
`bots.tasks.admin_account_job_task` on the default queue and returns at once; the job's state
lives in Redis (`JOB_KEY`, kept `JOB_TTL_S`): queued -> running -> done | failed, with one
sentence for the operator. The accounts' changelist lists the session's jobs, polls
`job_states` while any is unfinished, and on the reload that follows turns the finished ones
into admin messages.

The sentence is the action's own result or its `ExchangeActionFailed` text (which names the
failure: unreachable host, rejected key); any other error reads "failed unexpectedly" and its
traceback goes to the worker's log only, never to the page. Nothing here handles a key: the
task reads the account row like any other worker.

"Test connection" of an account whose key is not stored ("remember, locked" or "don't
remember") runs in the web process as before: its key lives only in that process's memory.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from bots import accounts
from bots.engine.controls import ExchangeActionFailed
from bots.models import ExchangeAccount, KeyMode
from exchange.redis_clients import redis_client

logger = logging.getLogger(__name__)

JOB_KEY = "lighterweb:admin-job:{}"
JOB_TTL_S = 24 * 3600
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
FINISHED = (DONE, FAILED)
UNEXPECTED = "failed unexpectedly; the default worker's log has the details"


def _look_up(account: ExchangeAccount) -> str:
    return f"account index {accounts.account_lookup_index(account)} found"


def _sync(account: ExchangeAccount) -> str:
    return f"{accounts.markets_sync(account)} markets synced"


def _test(account: ExchangeAccount) -> str:
    report = accounts.account_test_connection(account)
    return f"connection ok: {report.summary}"


# action name -> (what the operator reads, the call returning the result sentence)
ACTIONS: dict[str, tuple[str, Callable[[ExchangeAccount], str]]] = {
    "look_up_account_index": ("Look up account index", _look_up),
    "sync_markets": ("Sync markets", _sync),
    "test_connection": ("Test connection", _test),
}


@dataclass(frozen=True)
class Job:
    """One queued admin action on one account."""

    id: str
    action: str
    title: str
    account_id: int
    account: str
    state: str
    message: str
    updated_at: str

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


def runs_in_worker(action: str, account: ExchangeAccount) -> bool:
    """Whether `action` on `account` can run on a worker (a locked key lives only here)."""
    return action in ACTIONS and (
        action != "test_connection" or account.key_mode == KeyMode.REMEMBER
    )


def _save(job: Job) -> Job:
    redis_client(settings.REDIS_URL).set(
        JOB_KEY.format(job.id), json.dumps(asdict(job)), ex=JOB_TTL_S
    )
    return job


def _with(job: Job, state: str, message: str) -> Job:
    fields = asdict(job) | {
        "state": state,
        "message": message,
        "updated_at": timezone.now().isoformat(),
    }
    return Job(**fields)


def job_start(action: str, account: ExchangeAccount, enqueue: Callable[..., Any]) -> Job:
    """Store a queued job for `action` on `account` and hand it to `enqueue(job_id)`."""
    title, _ = ACTIONS[action]
    job = _save(
        Job(
            id=uuid.uuid4().hex,
            action=action,
            title=title,
            account_id=account.pk,
            account=str(account),
            state=QUEUED,
            message="waiting for a worker",
            updated_at=timezone.now().isoformat(),
        )
    )
    enqueue(job.id)
    return job


def job_get(job_id: str) -> Job | None:
    """The job's last state (None when unknown or expired)."""
    if not job_id.isalnum() or len(job_id) != 32:
        return None
    raw = redis_client(settings.REDIS_URL).get(JOB_KEY.format(job_id))
    if raw is None:
        return None
    return Job(**json.loads(raw))


def job_states(job_ids: list[str]) -> list[Job]:
    """The known jobs among `job_ids`, in that order."""
    jobs = (job_get(job_id) for job_id in job_ids)
    return [job for job in jobs if job is not None]


def job_run(job_id: str) -> Job | None:
    """Run a queued job (the task's body): running, then done or failed with one sentence."""
    job = job_get(job_id)
    if job is None or job.finished:
        return job  # expired, or a redelivery of a finished job
    job = _save(_with(job, RUNNING, "talking to the exchange"))
    _, call = ACTIONS[job.action]
    try:
        account = ExchangeAccount.objects.get(pk=job.account_id)
        return _save(_with(job, DONE, call(account)))
    except ExchangeAccount.DoesNotExist:
        return _save(_with(job, FAILED, "the account was deleted"))
    except ExchangeActionFailed as exc:
        return _save(_with(job, FAILED, str(exc)))
    except Exception:
        logger.exception("admin job %s (%s, account %s) failed", job.id, job.action, job.account)
        return _save(_with(job, FAILED, UNEXPECTED))
