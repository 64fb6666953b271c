"""Importing the client (and so the SDK) leaves Python's recursion limit as it was.

A dependency of lighter-sdk raises it to 100,000 on import; deep JSON then overflows the C stack
and kills the process (SIGSEGV) instead of raising RecursionError, which is how one request with
100,000 nested brackets took the web process down (design decision 7, issue 13).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
before = sys.getrecursionlimit()
import exchange.signer, exchange.client
print("limits", before, sys.getrecursionlimit())
try:
    json.loads("[" * 100_000 + "]" * 100_000)
except RecursionError:
    print("RecursionError")
"""


def test_importing_the_client_keeps_the_recursion_limit_and_deep_json_raises() -> None:
    # A fresh interpreter: this test process may have imported the SDK long ago.
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    limits, caught = done.stdout.split()[:3], done.stdout.split()[3:]
    assert limits[1] == limits[2], done.stdout
    assert caught == ["RecursionError"]
