"""Nobody local reads a session: var/ is 0700, the SQLite database with its WAL and SHM files and
the embedded Redis' files are 0600 from creation, whatever the umask."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import redis

from lighterweb.redis_server import EmbeddedRedis, free_port
from tests.paths import ROOT

# Opens the database through Django's settings (as every process does) and writes in WAL mode,
# then reports the modes while the connection still holds the -wal and -shm files.
PROBE = """
import json, os, stat, sys
os.umask(0o022)
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE probe (x INTEGER)")
    cursor.execute("INSERT INTO probe VALUES (1)")
    path = connection.settings_dict["NAME"]
    modes = {
        name: stat.S_IMODE(os.stat(name).st_mode)
        for name in (os.path.dirname(path), path, path + "-wal", path + "-shm")
    }
print(json.dumps(modes))
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_database_wal_and_shm_are_private_from_creation(tmp_path):
    db = tmp_path / "var" / "db.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db}",
        "DJANGO_SETTINGS_MODULE": "lighterweb.settings",
    }

    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    modes = json.loads(result.stdout.strip().splitlines()[-1])
    assert modes == {
        str(db.parent): 0o700,
        str(db): 0o600,
        f"{db}-wal": 0o600,
        f"{db}-shm": 0o600,
    }


def test_an_existing_world_readable_database_is_tightened(tmp_path):
    from lighterweb.private_files import private_sqlite_file

    db = tmp_path / "var" / "db.sqlite3"
    db.parent.mkdir(mode=0o755)
    for path in (db, Path(f"{db}-wal")):
        path.write_bytes(b"")
        path.chmod(0o644)

    private_sqlite_file(db, tighten_dir=True)

    assert (_mode(db.parent), _mode(db), _mode(Path(f"{db}-wal"))) == (0o700, 0o600, 0o600)


def test_embedded_redis_files_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        server = EmbeddedRedis(port=free_port(), data_dir=tmp_path / "redis").start()
    finally:
        os.umask(old)
    try:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        client.save()
        client.close()
    finally:
        server.stop()

    assert _mode(tmp_path / "redis") == 0o700
    dumps = list((tmp_path / "redis").iterdir())
    assert dumps, "redis wrote no file"
    assert {path.name: _mode(path) for path in dumps} == {path.name: 0o600 for path in dumps}


def test_start_script_sets_a_private_umask_before_creating_anything():
    script = (ROOT / "scripts" / "start.sh").read_text()

    assert script.index("umask 077") < script.index("mkdir -p var")
