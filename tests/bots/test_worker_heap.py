"""A real bots worker freezes its startup objects once it is ready (`lighterweb.heap`), the
modules its first bot would import included: its full garbage collections then walk only what
its bots allocated, not Django and the SDK as well."""

from __future__ import annotations

import re

import pytest

from tests.bots.worker_support import Worker, wait_for, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
__all__ = ["worker_env"]  # the fixture, imported for this module's tests

FROZEN = re.compile(
    r"worker ready: (\d+) startup objects frozen out of garbage collection "
    r"\((\d+) modules a bot runs on imported first\)"
)


def test_a_bots_worker_freezes_its_startup_objects_once_ready(worker_env):
    worker = Worker(worker_env)
    try:
        worker.wait_ready()
        wait_for(
            lambda: FROZEN.search("".join(worker.lines)) is not None,
            10,
            "the freeze's log line\n" + worker.output(),
        )
        found = FROZEN.search("".join(worker.lines))
        assert found is not None
        assert int(found.group(1)) > 100_000  # Django, the apps, Celery and the SDK
        # The runner, the Lighter SDK and what is under it, which its first bot would import
        # after the freeze otherwise: ~650 modules that every full collection would walk.
        assert int(found.group(2)) > 300
    finally:
        worker.stop()
