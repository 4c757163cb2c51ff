"""The package's import graph has no cycles: each layer depends only on the floors below it.

Every import counts — module level, inside functions and under TYPE_CHECKING — because a lazy
import is still a dependency: it only moves the failure from import time to run time.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

SRC = Path(__file__).resolve().parents[1] / "src" / "mtlops"


def _modules(src: Path) -> dict[str, Path]:
    out = {}
    for path in src.rglob("*.py"):
        parts = list(path.relative_to(src.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _nodes(tree: ast.AST, type_checking: bool):
    """Every node of the tree; without `type_checking`, none under an `if TYPE_CHECKING:` block."""
    if type_checking:
        yield from ast.walk(tree)
        return
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def import_graph(src: Path = SRC, type_checking: bool = True) -> nx.DiGraph:
    """module → every mtlops module it imports (a `from pkg import sub` edge goes to pkg.sub).

    `type_checking=False` leaves out imports made only for type checkers: what runs, not what is named.
    """
    modules = _modules(src)
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in _nodes(ast.parse(path.read_text(), filename=str(path)), type_checking):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            for target in targets:
                resolved = _resolve(target, modules) if target.startswith("mtlops") else None
                if resolved and resolved != module:
                    graph.add_edge(module, resolved)
    return graph


def test_the_graph_sees_real_imports():
    graph = import_graph()
    assert graph.has_edge("mtlops.config", "mtlops.schema")
    assert graph.has_edge("mtlops.training.trainer", "mtlops.weighting")


def test_no_import_cycles():
    cycles = [sorted(c) for c in nx.strongly_connected_components(import_graph()) if len(c) > 1]
    assert not cycles, f"import cycles in src/mtlops: {cycles}"


def test_a_detected_cycle_fails(tmp_path):
    """The check itself can fail: two modules importing each other form a cycle."""
    pkg = tmp_path / "mtlops"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from mtlops import b\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mtlops.a import f\n")
    cycles = [c for c in nx.strongly_connected_components(import_graph(pkg)) if len(c) > 1]
    assert cycles == [{"mtlops.a", "mtlops.b"}]


def test_the_schema_is_the_lowest_floor():
    """The params schema imports nothing of mtlops but its errors and the task types it validates against."""
    assert set(import_graph().successors("mtlops.schema")) <= {"mtlops.errors", "mtlops.task_types"}


def test_task_types_sit_below_the_schema():
    """The task types import only errors and the column reading rules, so the schema may build on them."""
    graph = import_graph()
    package = {m for m in graph if m == "mtlops.task_types" or m.startswith("mtlops.task_types.")}
    below = {"mtlops.errors", "mtlops.columns"}
    assert {d for m in package for d in graph.successors(m)} - package <= below
    assert {d for m in below for d in graph.successors(m)} <= {"mtlops.errors"}


def test_the_task_types_the_schema_and_the_config_load_no_torch():
    """Reading a params file needs no torch: the task types' heads live in `mtlops.models.heads`."""
    code = "import sys, mtlops.task_types, mtlops.schema, mtlops.config; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
