"""`python -m lighterweb.supervise -f PROCFILE`: run a Procfile's processes and keep them running.

What `scripts/start.sh` runs locally instead of honcho, which stops every process as soon as one
exits: here a process that dies is logged and restarted after a bounded backoff (1 s doubling to
30 s, back to 1 s once it has stayed up a minute), and the others keep running — a crashed web
process never takes the bots down. SIGINT/SIGTERM (Ctrl-C) sends SIGTERM to every process
group, waits up to `--stop-timeout` seconds for them to end, then SIGKILLs what is left, so no
process outlives the supervisor. Output lines are prefixed with the time and the process name.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("lighterweb.supervise")

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
# A process that stayed up this long restarts quickly again after its next exit.
STABLE_AFTER_S = 60.0
POLL_S = 0.2


def procfile_entries(text: str) -> list[tuple[str, str]]:
    """(name, command) of every `name: command` line (comments and blank lines skipped)."""
    entries: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, command = line.split(":", 1)
        entries.append((name.strip(), command.strip()))
    return entries


@dataclass
class Child:
    """One Procfile line and its current process."""

    name: str
    command: str
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    backoff_s: float = BACKOFF_FIRST_S
    starts: int = 0
    readers: list[threading.Thread] = field(default_factory=list)

    def start(self, cwd: Path) -> None:
        """Start the command in a process group of its own (so a stop reaches its children)."""
        # `exec`: the shell becomes the program, so the pid we watch and signal is the program's.
        command = self.command if self.command.startswith("exec ") else f"exec {self.command}"
        self.process = subprocess.Popen(  # noqa: S602 - Procfile lines are shell commands
            command,
            shell=True,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.started_at = time.monotonic()
        self.starts += 1
        reader = threading.Thread(target=self._relay, args=(self.process,), daemon=True)
        reader.start()
        self.readers = [reader]
        logger.info("%s started (pid %s)", self.name, self.process.pid)

    def _relay(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            sys.stdout.write(f"{time.strftime('%H:%M:%S')} {self.name:<15}| {line}\n")
            sys.stdout.flush()

    @staticmethod
    def signal_group(pgid: int, sig: int) -> None:
        """Send `sig` to a process group that may already be gone."""
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return

    def signal(self, sig: int) -> None:
        """Send `sig` to the process group, if it still runs."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return


class Supervisor:
    """Start every child, restart the ones that die, stop them all on request."""

    def __init__(self, entries: list[tuple[str, str]], cwd: Path, stop_timeout_s: float) -> None:
        self.children = [Child(name, command) for name, command in entries]
        self.cwd = cwd
        self.stop_timeout_s = stop_timeout_s
        self.stopping = threading.Event()

    def run(self) -> int:
        """Supervise until `stop()`; returns the exit code (0 after a requested stop)."""
        for child in self.children:
            child.start(self.cwd)
        while not self.stopping.wait(POLL_S):
            now = time.monotonic()
            for child in self.children:
                self._watch(child, now)
        self._stop_all()
        return 0

    def _watch(self, child: Child, now: float) -> None:
        process = child.process
        if process is not None and process.poll() is None:
            return
        if process is not None:
            code = process.returncode
            # Whatever the dead process left in its group (a child it forked) goes with it, or
            # the restarted one would find its port taken.
            child.signal_group(process.pid, signal.SIGKILL)
            up_s = now - child.started_at
            if up_s >= STABLE_AFTER_S:
                child.backoff_s = BACKOFF_FIRST_S
            child.restart_at = now + child.backoff_s
            logger.warning(
                "%s exited with code %s after %.0fs; restarting in %.0fs (the others keep running)",
                child.name, code, up_s, child.backoff_s,
            )  # fmt: skip
            child.backoff_s = min(child.backoff_s * 2, BACKOFF_MAX_S)
            child.process = None
        if now >= child.restart_at:
            child.start(self.cwd)

    def stop(self) -> None:
        """Ask `run()` to stop every child and return."""
        self.stopping.set()

    def _stop_all(self) -> None:
        for child in self.children:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in %.0fs; killing it", child.name,
                               self.stop_timeout_s)  # fmt: skip
                child.signal(signal.SIGKILL)
                child.process.wait()
            logger.info("%s stopped", child.name)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-f", "--procfile", default="Procfile", type=Path)
    parser.add_argument("-d", "--directory", default=".", type=Path)
    parser.add_argument("--stop-timeout", type=float, default=20.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervise      | %(message)s",
                        datefmt="%H:%M:%S")  # fmt: skip
    entries = procfile_entries(args.procfile.read_text(encoding="utf-8"))
    if not entries:
        parser.error(f"{args.procfile}: no process lines")
    supervisor = Supervisor(entries, args.directory, args.stop_timeout)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _sig, _frame: supervisor.stop())
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
