"""Files only the site's own user may read: var/ is 0700, the SQLite database (and so its WAL and
SHM files, which SQLite creates with the database file's mode) and Redis' files are 0600.

The database holds session keys and the encrypted exchange keys; with the default umask (022)
any local user could read `django_session` and drive the admin. Modes are set at creation, not
fixed up later, and tightened on existing files so an older install is fixed on its next start.
Importable from settings: no Django imports.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
PRIVATE_UMASK = 0o077
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path, *, tighten_existing: bool = True) -> None:
    """Create `path` (and missing parents) as 0700; an existing one is tightened to 0700."""
    existed = path.is_dir()
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if not existed or tighten_existing:
        path.chmod(PRIVATE_DIR_MODE)


def private_sqlite_file(path: Path, *, tighten_dir: bool) -> None:
    """Make sure the SQLite file at `path` exists with mode 0600 before SQLite opens it.

    SQLite gives its -wal and -shm files the mode of the database file, so they are private
    from creation too; existing ones (an older install) are tightened here.
    """
    private_dir(path.parent, tighten_existing=tighten_dir)
    descriptor = os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE_MODE)
    os.close(descriptor)
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_SIDE_FILES)):
        if candidate.exists():
            candidate.chmod(PRIVATE_FILE_MODE)
