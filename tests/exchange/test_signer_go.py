"""The signer's Go runtime on one processor: Go reads GOMAXPROCS once, from the environment its
process was started with, so only the launcher can set it (the Procfile, the systemd units,
start.sh). A process started without it says so once, when it first loads the library.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import logging, os, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(levelname)s %(message)s")
import exchange.signer as signer
os.environ["GOMAXPROCS"] = "1"  # too late for Go: its process started without it
print("at start:", signer.go_processors_at_start())
signer.generate_api_key()
signer.generate_api_key()
"""


def run_probe(**env: str) -> list[str]:
    started = {k: v for k, v in os.environ.items() if k != "GOMAXPROCS"} | env
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=started,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    return done.stdout.splitlines()


def test_a_process_started_without_gomaxprocs_is_told_once_when_the_signer_loads() -> None:
    lines = run_probe()

    assert lines[0] == "at start: None"  # what Python set later does not count
    warnings = [line for line in lines if line.startswith("WARNING")]
    assert len(warnings) == 1, lines
    assert "GOMAXPROCS was not set when this process started" in warnings[0]
    assert "GOMAXPROCS=1" in warnings[0]


def test_a_process_started_with_gomaxprocs_signs_without_a_word() -> None:
    lines = run_probe(GOMAXPROCS="1")

    assert lines == ["at start: 1"]


def test_a_value_of_the_operators_own_is_kept() -> None:
    assert run_probe(GOMAXPROCS="2") == ["at start: 2"]
