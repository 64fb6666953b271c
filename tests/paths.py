"""Where test inputs live.

The captured Lighter payloads are kept outside the repository, in the `shared/` folder that sits
beside the checkout (CI clones the project with `shared/` next to it). `LIGHTER_FIXTURES` points
elsewhere when needed. Without them, fixture-driven tests fail under CI and skip, with the reason,
on a developer's machine that lacks the folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("LIGHTER_FIXTURES", ROOT.parent / "shared" / "fixtures" / "lighter"))


def fixture_files(pattern: str = "*.json") -> list[Path]:
    """The fixture files matching `pattern`; fails in CI and skips elsewhere when there are none."""
    files = sorted(FIXTURES.glob(pattern))
    if not files:
        message = f"no Lighter fixtures matching {pattern!r} in {FIXTURES} (set LIGHTER_FIXTURES)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message, allow_module_level=True)
    return files
