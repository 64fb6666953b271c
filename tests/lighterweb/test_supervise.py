"""scripts/start.sh's supervisor: a process that dies is restarted alone, the others keep
running, and a stop ends every process (no orphan). Real processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from lighterweb.supervise import procfile_entries

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 30.0


def _wait(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    pause, deadline = threading.Event(), time.monotonic() + TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        pause.wait(0.05)


def _pids(folder: Path, name: str) -> list[int]:
    return sorted(int(p.name.split("-")[1]) for p in folder.glob(f"{name}-*"))


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it has ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def _procfile(tmp_path: Path) -> Path:
    mark = "import os, pathlib; pathlib.Path(f'{os.getpid()}'.join(['{name}-', ''])).touch()"
    steady = mark.replace("{name}", "steady") + "; import time; time.sleep(600)"
    web = mark.replace("{name}", "web") + "; import time; time.sleep(600)"
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f'steady: {sys.executable} -c "{steady}"\nweb: {sys.executable} -c "{web}"\n'
    )
    return procfile


def test_procfile_lines_are_read_and_comments_skipped() -> None:
    text = "# comment\n\nweb: daphne x:y -p 8000\nbeat: celery beat\n"
    assert procfile_entries(text) == [("web", "daphne x:y -p 8000"), ("beat", "celery beat")]


def test_a_killed_process_restarts_alone_and_a_stop_leaves_no_orphan(tmp_path: Path) -> None:
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "lighterweb.supervise", "-f", str(_procfile(tmp_path)),
         "-d", str(tmp_path), "--stop-timeout", "10"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait(lambda: _pids(tmp_path, "steady") and _pids(tmp_path, "web"), "both processes")
        (steady,), (web,) = _pids(tmp_path, "steady"), _pids(tmp_path, "web")

        os.kill(web, signal.SIGKILL)  # the web process crashes
        _wait(lambda: len(_pids(tmp_path, "web")) == 2, "the web process restarted")

        assert _pids(tmp_path, "steady") == [steady] and _alive(steady), "the others keep running"
        restarted = max(set(_pids(tmp_path, "web")) - {web})
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=TIMEOUT_S) == 0
        assert not _alive(steady) and not _alive(restarted), "no process outlives the supervisor"
    finally:
        if supervisor.poll() is None:
            supervisor.kill()


def test_a_dead_process_takes_the_children_it_left_with_it(tmp_path: Path) -> None:
    # A server that forks (daphne, celery): when the parent dies, its child must not live on
    # holding the port the restarted process needs.
    forks = (
        "import os, pathlib, subprocess, sys, time; "
        "kid = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
        "pathlib.Path(f'parent-{os.getpid()}').touch(); pathlib.Path(f'kid-{kid.pid}').touch(); "
        "time.sleep(600)"
    )
    procfile = tmp_path / "Procfile"
    procfile.write_text(f'web: {sys.executable} -c "{forks}"\n')
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "lighterweb.supervise", "-f", str(procfile), "-d", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait(lambda: _pids(tmp_path, "kid"), "the first process and its child")
        (parent,), (kid,) = _pids(tmp_path, "parent"), _pids(tmp_path, "kid")

        os.kill(parent, signal.SIGKILL)
        _wait(lambda: len(_pids(tmp_path, "parent")) == 2, "the process restarted")

        _wait(lambda: not _alive(kid), "the dead process's child gone too")
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=TIMEOUT_S)
