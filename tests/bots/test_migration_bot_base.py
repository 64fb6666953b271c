"""0012_bot_base keeps every grid bot, its id and what points to it, on SQLite and PostgreSQL.

The migration runs in a subprocess against a scratch database of the same kind as the test
database (a fresh file, or a fresh PostgreSQL database beside the test one), since the test
database is already at the latest migration.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from tests.paths import ROOT


@pytest.fixture
def scratch_database_url(tmp_path: Path) -> Iterator[str]:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'migration.db'}"
        return
    import psycopg

    name = f"{settings['NAME']}_migration"
    host = f"{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
    auth = settings["USER"] + (f":{settings['PASSWORD']}" if settings["PASSWORD"] else "")
    admin = psycopg.connect(f"postgresql://{auth}@{host}/postgres", autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://{auth}@{host}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_grid_bots_become_bots_with_their_ids_and_references(scratch_database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": scratch_database_url}
    done = subprocess.run(
        [sys.executable, "-m", "tests.bots.migration_bot_base"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    after = json.loads(done.stdout.strip().splitlines()[-1])

    first, second = after["ids"]["first"], after["ids"]["second"]
    assert after["bots"] == [[first, "first"], [second, "second"], [after["third"], "third"]]
    assert after["grids"] == after["bots"]
    assert after["third"] > second  # the id sequence moved past the copied ids
    assert after["second"] == {
        "desired_state": "running",
        "status": "running",
        "lease_fence": 42,
        "centre_index": 3,
        "anchor_price": "3999.5000000000",
        "status_message": "ok",
        "created_at": after["stamp"],
        "heartbeat_at": after["stamp"],
        "account": after["ids"]["account"],
        "market": after["ids"]["market"],
    }
    assert (after["order_bot"], after["fill_bot"], after["funding_bot"]) == (second,) * 3
    assert after["event_bot"] == first
    assert after["transfer_bot"] == second
    assert after["channel_bots"] == [second]
    assert after["dangling"] == []
