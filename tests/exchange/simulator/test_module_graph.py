"""The simulator's modules import each other without cycles (TYPE_CHECKING and relative imports
included): the server wires the route tables, which see it only through `venue`'s protocols."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "exchange.simulator"
FOLDER = Path(__file__).resolve().parents[3] / "exchange" / "simulator"


def _module_names() -> set[str]:
    return {p.stem for p in FOLDER.glob("*.py") if p.stem != "__init__"}


def _imports(path: Path, names: set[str]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1:
                base = f"{PACKAGE}.{node.module}" if node.module else PACKAGE
            elif node.level == 0 and node.module:
                base = node.module
            else:
                continue
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            if target.startswith(PACKAGE + "."):
                head = target.removeprefix(PACKAGE + ".").split(".")[0]
                if head in names:
                    found.add(head)
    return found


def _graph() -> dict[str, set[str]]:
    names = _module_names()
    return {name: _imports(FOLDER / f"{name}.py", names) - {name} for name in names}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read() -> None:
    graph = _graph()
    assert "engine" in graph["server"] and "state" in graph["links"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_simulator_has_no_import_cycles() -> None:
    assert _cycles(_graph()) == []
