"""The suite needs nothing outside the repository: a fresh clone with nothing beside it passes.

The recorded payloads live in tests/fixtures/lighter, and the guard in `tests.plugins.repo_only`
fails any test that opens a path outside the checkout. These tests check both: that the guard
sees paths however they are built, and that a test reading outside really fails.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from tests.paths import FIXTURES, ROOT
from tests.plugins.repo_only import GUARD

pytest_plugins = ["pytester"]


def test_recorded_payloads_are_inside_the_repository() -> None:
    assert FIXTURES.resolve().is_relative_to(ROOT)
    payloads = sorted(FIXTURES.glob("*.json"))
    assert len(payloads) >= 30
    for payload in payloads:
        json.loads(payload.read_text())
    readme = (FIXTURES / "README.md").read_text()
    assert "Licence" in readme and "LGPL-3.0" in readme


def test_nothing_outside_the_repository_was_opened_before_this_test() -> None:
    # Per-test failures are the guard's job; this catches what background threads left behind.
    assert GUARD.since(0) == []


# Where a checkout sits directly in the temp dir, its siblings cannot be told from temp files.
beside_known = pytest.mark.skipif(
    os.path.realpath(ROOT.parent) in (os.path.realpath(tempfile.gettempdir()), "/"),
    reason="the checkout sits directly in the temp dir: siblings look like temp files",
)


@beside_known
def test_the_guard_sees_outside_paths_however_they_are_built(tmp_path: Path) -> None:
    sibling = os.path.join(str(ROOT), "..", "sh" + "ared", "fixtures", "missing.json")
    with pytest.raises(FileNotFoundError):
        open(sibling).close()
    with pytest.raises(FileNotFoundError):
        os.listdir(ROOT.parent / "no-such-folder-beside-the-checkout")
    seen = GUARD.drain()
    assert seen == [
        f"open {os.path.realpath(sibling)}",
        f"os.listdir {os.path.realpath(ROOT.parent / 'no-such-folder-beside-the-checkout')}",
    ]
    (tmp_path / "inside.txt").write_text("ok")
    (ROOT / "tests" / "paths.py").read_text()
    assert GUARD.drain() == []


@beside_known
def test_a_test_that_opens_a_path_outside_the_repository_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    outside = ROOT.parent / "shared-sibling-that-does-not-exist" / "payload.json"
    pytester.makepyfile(
        test_reads_outside=f"""
        import pathlib

        def test_reads_a_sibling_folder():
            try:
                pathlib.Path({str(outside)!r}).read_text()
            except FileNotFoundError:
                pass

        def test_reads_its_own_folder(tmp_path):
            (tmp_path / "x").write_text("fine")
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "tests.plugins.repo_only", "-p", "no:cacheprovider", "-p", "no:django"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*opened paths outside the repository*", f"*{outside}*"])
