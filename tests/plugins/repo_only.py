"""The suite reads nothing outside the repository: a runtime guard that fails the offending test.

A `sys.addaudithook` hook sees every file the test process opens and every directory it lists
(`open`, `os.listdir`, `os.scandir` audit events), however the path was built. A path that is not
under the checkout, the temp dir, the Python installation / virtualenv or a system directory is
recorded, and the test (or collection of the module) during which it happened fails, naming it.
A fresh clone with nothing beside it must pass, so nothing may depend on a sibling folder.

Only this process is audited; subprocesses the tests start run product code, not test code.
"""

from __future__ import annotations

import os
import site
import sys
import tempfile
import threading
from collections.abc import Generator, Iterable
from typing import Any

import pytest

from tests.paths import ROOT

AUDITED_EVENTS = frozenset({"open", "os.listdir", "os.scandir"})
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/etc", "/proc", "/sys", "/dev", "/run")
# Per-user files that third-party libraries probe on their own (aiohttp and urllib read netrc for
# proxy credentials); what the tests themselves open is never on this list.
LIBRARY_USER_FILES = ("~/.netrc", "~/_netrc")


def _real(path: str) -> str:
    return os.path.realpath(path)


def _allowed_roots() -> tuple[str, ...]:
    roots: list[str] = [str(ROOT), tempfile.gettempdir()]
    roots += [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    roots += site.getsitepackages()
    roots.append(site.getusersitepackages())
    roots += SYSTEM_DIRS
    roots += _editable_install_roots()
    return tuple(sorted({_real(root) for root in roots if root}))


def _editable_install_roots() -> list[str]:
    """Source folders of packages the virtualenv installs in editable mode.

    setuptools' editable finder lists them when Django probes for optional submodules (e.g.
    `bots.templatetags`); in a clone's own .venv they are the checkout itself.
    """
    roots: list[str] = []
    for name, module in list(sys.modules.items()):
        mapping = getattr(module, "MAPPING", None) if name.startswith("__editable__") else None
        if isinstance(mapping, dict):
            roots += [str(path) for path in mapping.values()]
    return roots


def _forbidden_parent() -> str | None:
    """The folder the checkout sits in: everything else in it (a `shared/` beside the clone, the
    very thing a fresh clone lacks) is outside, even when that folder is under the temp dir (a
    clone in /tmp/x/). Not when the checkout sits directly in the temp dir or the file system
    root: then its siblings cannot be told from the temp files tests make."""
    parent = _real(str(ROOT.parent))
    return None if parent in (_real(tempfile.gettempdir()), "/") else parent


class OutsideOpens:
    """Paths outside the allowed roots that this process opened or listed, in order."""

    def __init__(
        self, roots: Iterable[str], files: Iterable[str] = (), *, beside: str | None = None
    ) -> None:
        self.roots = tuple(roots)
        self.files = frozenset(files)
        self.beside = beside
        self.checkout = _real(str(ROOT))
        self._seen: list[str] = []
        self._lock = threading.Lock()

    def allowed(self, path: str) -> bool:
        if path in self.files:
            return True
        if (
            self.beside is not None
            and _under(path, self.beside)
            and not _under(path, self.checkout)
        ):
            return False
        return any(path == root or path.startswith(root.rstrip("/") + "/") for root in self.roots)

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        """The audit hook: must never raise, or the audited call itself would fail."""
        if event not in AUDITED_EVENTS or not args:
            return
        target = args[0]
        if isinstance(target, int) or target is None:
            return  # a file descriptor, or listdir() of the working directory
        try:
            path = _real(os.fsdecode(target))
        except (TypeError, ValueError):
            return
        if not self.allowed(path):
            with self._lock:
                self._seen.append(f"{event} {path}")

    def mark(self) -> int:
        with self._lock:
            return len(self._seen)

    def since(self, mark: int) -> list[str]:
        with self._lock:
            return self._seen[mark:]

    def drain(self) -> list[str]:
        """Forget and return everything recorded (for the guard's own tests)."""
        with self._lock:
            seen, self._seen = self._seen, []
            return seen


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


GUARD = OutsideOpens(
    _allowed_roots(),
    (_real(os.path.expanduser(f)) for f in LIBRARY_USER_FILES),
    beside=_forbidden_parent(),
)
sys.addaudithook(GUARD.audit)


def _message(seen: list[str]) -> str:
    shown = "\n  ".join(dict.fromkeys(seen))
    return f"opened paths outside the repository (tests must be self-contained):\n  {shown}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    mark = GUARD.mark()
    yield
    _fail_if_outside(mark)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    mark = GUARD.mark()
    yield
    _fail_if_outside(mark)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    mark = GUARD.mark()
    yield
    _fail_if_outside(mark)


def _fail_if_outside(mark: int) -> None:
    seen = GUARD.since(mark)
    if seen:
        pytest.fail(_message(seen), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A module that reads outside the repository while being imported fails to collect."""
    mark = GUARD.mark()
    report = yield
    seen = GUARD.since(mark)
    if seen and report.outcome != "failed":
        report.outcome = "failed"
        report.longrepr = _message(seen)
    return report
