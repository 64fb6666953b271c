"""Dependency direction (design.md, house-style rule 2), checked by walking every import.

- `bots.strategies` (the pure cores: strategies, accounting, the order-state table) imports
  neither Django nor `exchange`, nor anything that does I/O.
- No import cycles among the modules of `bots`, `exchange` and `lighterweb`, relative imports and
  imports inside functions or `TYPE_CHECKING` blocks included.
- `exchange` never imports `bots`.
- Only `exchange/signer.py` imports the Lighter SDK (`lighter`); tests may too.
- The simulator never imports Django (it runs without it) nor the SDK.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("lighterweb", "bots", "exchange")
PURE_CORES = tuple(
    p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "bots" / "strategies").rglob("*.py"))
)
PURE_ALLOWED_ROOTS = {
    "__future__", "dataclasses", "decimal", "enum", "typing", "collections", "itertools",
    "functools", "math", "operator", "bisect", "abc",
}  # fmt: skip
SDK_IMPORTER = "exchange/signer.py"


def _source_files() -> list[Path]:
    files: list[Path] = []
    for package in PACKAGES:
        files.extend(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)
    return sorted(files)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, relative imports resolved, `from pkg import mod` as pkg.mod."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            modules.add(module)
            modules.update(f"{module}.{alias.name}" for alias in node.names)
    return modules


def _roots(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_source_tree_is_found() -> None:
    assert len(_source_files()) > 5


@pytest.mark.parametrize("core", PURE_CORES)
def test_pure_cores_import_only_the_standard_library_basics(core: str) -> None:
    path = ROOT / core
    if not path.exists():
        pytest.fail(f"{core} is missing")
    outside = {m for m in _imported_modules(path) if not m.startswith("bots.strategies")}
    forbidden = _roots(outside) - PURE_ALLOWED_ROOTS
    assert not forbidden, f"{core} imports {sorted(forbidden)}"


def test_exchange_never_imports_bots() -> None:
    offenders = {
        _rel(p): sorted(m for m in _imported_modules(p) if m.split(".")[0] == "bots")
        for p in _source_files()
        if _rel(p).startswith("exchange/")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_only_the_signer_module_imports_the_lighter_sdk() -> None:
    importers = sorted(
        _rel(p) for p in _source_files() if "lighter" in _roots(_imported_modules(p))
    )
    assert importers in ([], [SDK_IMPORTER]), importers


def test_simulator_needs_neither_django_nor_the_sdk() -> None:
    offenders = {
        _rel(p): sorted(_roots(_imported_modules(p)) & {"django", "lighter", "bots"})
        for p in (ROOT / "exchange" / "simulator").rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def _calls_wait_for(path: Path) -> bool:
    tree = ast.parse(path.read_text(), filename=str(path))
    return any(
        isinstance(node, ast.Attribute) and node.attr == "wait_for" for node in ast.walk(tree)
    )


def test_no_asyncio_wait_for_in_the_product() -> None:
    # On Python 3.11 asyncio.wait_for swallows a cancel that lands in the loop turn its awaitable
    # completes: a cancelled bot runner ran on (CI hung on it). asyncio.timeout() does not.
    offenders = sorted(_rel(p) for p in _source_files() if _calls_wait_for(p))
    assert not offenders, offenders


def _import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in _source_files()}
    return {name: _imported_modules(path) & files.keys() - {name} for name, path in files.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_relative_cycle(tmp_path: Path) -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_relative_imports_are_resolved() -> None:
    grid = ROOT / "bots" / "strategies" / "grid" / "__init__.py"
    assert "bots.strategies.grid.config" in _imported_modules(grid)


def test_no_import_cycles() -> None:
    assert _cycles(_import_graph()) == []
