"""Where test inputs live: inside the repository, so a fresh clone tests with nothing beside it.

`FIXTURES` holds the recorded Lighter payloads (see its README for where each came from). The
suite's guard (`tests.plugins.repo_only`) fails any test that opens a path outside the checkout.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "lighter"
