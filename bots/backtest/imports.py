"""CSV uploads of candles, imported by the default worker with a progress bar (admin "Upload").

A year of 1-minute candles is half a million rows: too long for a page request. The admin saves
the upload under `settings.CANDLE_UPLOAD_DIR` and queues `candles_import_task`; the job's state
lives in Redis (`JOB_KEY`, kept `JOB_TTL_S`): queued -> running (reading, then storing, with a
percentage) -> done, with the import's report, or failed, with the reason (a bad row names its
line and field, as `manage.py candles_import` does). The upload page polls `import_get`.

A bad file stores nothing: the whole file is parsed before the first row is stored, and the rows
are stored in one transaction (in chunks, so the progress moves while they are written). The
uploaded file is deleted once the job ends, whatever the outcome.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from redis import Redis

from bots.backtest import csvfile, store
from exchange.redis_clients import redis_client

logger = logging.getLogger(__name__)

JOB_KEY = "lighterweb:candle-import:{}"
JOB_TTL_S = 24 * 3600
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
FINISHED = (DONE, FAILED)
# Reading is the first half of the bar, storing the second.
READ_SHARE = 50
STORE_CHUNK = 20_000
# The state in Redis is rewritten at most this often while a phase runs.
SAVE_EVERY_S = 0.25
UNEXPECTED = "failed unexpectedly; the default worker's log has the details"


@dataclass(frozen=True)
class ImportJob:
    """One uploaded file being imported."""

    id: str
    network: str
    market_id: int
    market: str
    filename: str
    size_bytes: int
    state: str = QUEUED
    phase: str = "waiting for a worker"
    progress: int = 0
    lines: list[str] = field(default_factory=list)
    error: str = ""
    updated_at: str = ""

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def as_json(self) -> dict[str, Any]:
        """What the upload page polls."""
        return {**asdict(self), "finished": self.finished}


def _path(job_id: str) -> Path:
    return Path(settings.CANDLE_UPLOAD_DIR) / f"{job_id}.csv"


def _save(job: ImportJob, redis: Redis | None = None) -> ImportJob:
    job = replace(job, updated_at=timezone.now().isoformat())
    client = redis or redis_client(settings.REDIS_URL)
    try:
        client.set(JOB_KEY.format(job.id), json.dumps(asdict(job)), ex=JOB_TTL_S)
    finally:
        if redis is None:
            client.close()
    return job


def import_start(
    network: str,
    market_id: int,
    market: str,
    upload: UploadedFile[Any],
    enqueue: Callable[[str], Any],
) -> ImportJob:
    """Keep the uploaded file for the worker, store a queued job and hand it to `enqueue`."""
    job_id = uuid.uuid4().hex
    target = _path(job_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    job = _save(
        ImportJob(
            id=job_id,
            network=network,
            market_id=market_id,
            market=market,
            filename=(upload.name or "upload.csv")[:200],
            size_bytes=target.stat().st_size,
        )
    )
    enqueue(job.id)
    return job


def import_get(job_id: str) -> ImportJob | None:
    """The job's last state (None when unknown or expired)."""
    if not job_id.isalnum() or len(job_id) != 32:
        return None
    client = redis_client(settings.REDIS_URL)
    try:
        raw = client.get(JOB_KEY.format(job_id))
    finally:
        client.close()
    if raw is None:
        return None
    return ImportJob(**json.loads(raw))


class _Progress:
    """Saves the job's percentage at most every SAVE_EVERY_S."""

    def __init__(self, job: ImportJob, redis: Redis) -> None:
        self.job = job
        self.redis = redis
        self.saved_at = time.monotonic()

    def set(self, phase: str, percent: int) -> None:
        now = time.monotonic()
        if now - self.saved_at >= SAVE_EVERY_S:
            self.job = _save(replace(self.job, phase=phase, progress=min(100, percent)), self.redis)
            self.saved_at = now


def _counted(lines: Iterable[str], size: int, progress: _Progress) -> Iterator[str]:
    # Characters stand for bytes: a CSV of numbers is ASCII.
    read = 0
    for line in lines:
        read += len(line)
        progress.set("reading the file", read * READ_SHARE // max(1, size))
        yield line


def import_run(job_id: str) -> ImportJob | None:
    """Import a queued upload (the task's body): running, then done with the report or failed
    with the reason. A redelivered finished job is left as it is."""
    job = import_get(job_id)
    if job is None or job.finished:
        if job is None and job_id.isalnum() and len(job_id) == 32:
            _path(job_id).unlink(missing_ok=True)  # its state expired: nobody will read it
        return job
    redis = redis_client(settings.REDIS_URL)
    try:
        running = _save(replace(job, state=RUNNING, phase="reading the file"), redis)
        return _import(running, _Progress(running, redis))
    finally:
        redis.close()
        _path(job.id).unlink(missing_ok=True)


def _import(job: ImportJob, progress: _Progress) -> ImportJob:
    def failed(reason: str) -> ImportJob:
        return _save(replace(progress.job, state=FAILED, error=reason), progress.redis)

    try:
        with _path(job.id).open(newline="", encoding="utf-8-sig") as handle:
            parsed = csvfile.parse(_counted(handle, job.size_bytes, progress))
        report = _store(job, parsed, progress)
    except FileNotFoundError:
        return failed("the uploaded file is gone")
    except UnicodeDecodeError:
        return failed("The file is not UTF-8 text.")
    except csvfile.CsvError as exc:
        return failed(str(exc))
    except Exception:
        logger.exception("candle import %s (%s %s) failed", job.id, job.network, job.market)
        return failed(UNEXPECTED)
    done = replace(progress.job, state=DONE, phase="done", progress=100, lines=report.lines())
    return _save(done, progress.redis)


def _store(job: ImportJob, parsed: csvfile.ParsedFile, progress: _Progress) -> store.ImportReport:
    """`store.import_parsed` of the whole file, chunk by chunk inside one transaction."""
    candles = parsed.candles
    inserted = 0
    with transaction.atomic():
        for start in range(0, len(candles), STORE_CHUNK):
            chunk = candles[start : start + STORE_CHUNK]
            part = store.import_parsed(
                job.network, job.market_id, csvfile.ParsedFile(chunk, len(chunk), 0, 0)
            )
            inserted += part.inserted
            stored = start + len(chunk)
            progress.set(
                "storing the candles",
                READ_SHARE + stored * (100 - READ_SHARE) // len(candles),
            )
    return store.ImportReport(
        rows=parsed.rows,
        inserted=inserted,
        already_stored=len(candles) - inserted,
        duplicates_in_file=parsed.duplicates,
        conflicting_duplicates=parsed.conflicting_duplicates,
        first_ms=candles[0].open_time_ms,
        last_ms=candles[-1].open_time_ms,
        gaps=parsed.gaps(),
    )
