"""Which code a result depends on, read from the source files (nothing is imported): the modules a module
runs, transitively, and one hash of what their code says.

The checkpoint fingerprint of the train stage (`mtlops.training.resume`) and the search's study name
(`mtlops.search.storage`) join this hash in, so a change to training code trains afresh instead of
"resuming" finished weights, and a changed objective opens a new study instead of spending the old
one's budget. `tests/test_dvc_deps.py` checks dvc.yaml's code deps against the same derivation.

What a module runs: every `mtlops` import in it, module level or inside a function (imports made only
for type checkers left out), a module named in a string (`"mtlops.pkg.mod"`, `"mtlops.pkg.mod:Class"`,
as the source and encoder registries name theirs) or a sibling file named in one (`"mod.py"`, the
packaged model's code), and the packages above each (their `__init__` runs on import).

The hash covers each module's code without comments, docstrings and blank lines: editing what the code
says leaves checkpoints and studies valid, editing what it does does not. Positions come from `ast`
and comment tokens, both the same on every Python version, so hosts sharing a study agree on its name.

Parsing every module takes about a second, and a search asks for the hash several times (and once in each of its
worker processes): the graphs and each file's code text are cached on what the files say, never on their
names or times, so an edited file is read afresh however soon after.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import tokenize
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent  # the mtlops package these files belong to

Graph = dict[str, set[str]]
# (module name, file path, its text) for every module of a package, in name order: what the graphs read
Snapshot = tuple[tuple[str, str, str], ...]


def modules(src: Path = SRC) -> dict[str, Path]:
    """Module name → file for every module of the package at `src` (a package is its `__init__.py`)."""
    out = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(name: str, known: Collection[str]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _nodes(tree: ast.AST, type_checking: bool) -> Iterator[ast.AST]:
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


def snapshot(src: Path = SRC) -> Snapshot:
    """Every module's name, file and text: the graphs below are cached on it."""
    return tuple((module, str(path), path.read_text(encoding="utf-8")) for module, path in modules(src).items())


def import_graph(src: Path = SRC, type_checking: bool = True) -> Graph:
    """module → the mtlops modules it imports (a `from pkg import sub` edge goes to pkg.sub).

    `type_checking=False` leaves out imports made only for type checkers: what runs, not what is named.
    """
    return _copy(_import_graph(snapshot(src), type_checking))


@functools.lru_cache(maxsize=8)
def _import_graph(files: Snapshot, type_checking: bool) -> Graph:
    known = {module for module, _, _ in files}
    graph: Graph = {m: set() for m in known}
    for module, path, text in files:
        package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
        for node in _nodes(ast.parse(text, filename=path), type_checking):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
            for target in targets:
                resolved = _resolve(target, known) if target.startswith("mtlops") else None
                if resolved and resolved != module:
                    graph[module].add(resolved)
    return graph


def runtime_graph(src: Path = SRC) -> Graph:
    """The import graph of what runs, plus an edge to each module a string constant names."""
    return _copy(_runtime_graph(snapshot(src)))


@functools.lru_cache(maxsize=8)
def _runtime_graph(files: Snapshot) -> Graph:
    graph = _copy(_import_graph(files, False))
    for module, path, text in files:
        package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(text, filename=path)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                value = node.value
                named = f"{package}.{value.removesuffix('.py')}" if value.endswith(".py") else value.split(":")[0]
                if named in graph and named != module:
                    graph[module].add(named)
    return graph


def _copy(graph: Graph) -> Graph:
    """A caller's own copy of a cached graph."""
    return {module: set(targets) for module, targets in graph.items()}


def runs(starts: Iterable[str], graph: Graph) -> set[str]:
    """`starts`, every module they run (transitively) and the packages above each."""
    seen: set[str] = set()
    todo = [s for s in starts if s in graph]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    packages = {".".join(m.split(".")[:i]) for m in seen for i in range(1, m.count(".") + 1)}
    return seen | {p for p in packages if p in graph}


def stage_modules(stage: str, src: Path = SRC, graph: Graph | None = None) -> set[str]:
    """The modules stage `stage` runs, and what makes its config: `mtlops.schema` with what it imports
    (its defaults fill every key params.yaml leaves out) and `mtlops.config` itself."""
    graph = graph if graph is not None else runtime_graph(src)
    return runs([f"mtlops.stages.{stage}", "mtlops.schema"], graph) | {"mtlops.config"} & graph.keys()


def code_text(path: Path) -> str:
    """The file's code without comments, docstrings, trailing spaces and blank lines."""
    return _code_text(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1024)
def _code_text(text: str) -> str:
    lines = text.splitlines()
    drop: list[tuple[int, int, int, int]] = []  # (first line, first col, last line, end col): 1-based lines, chars
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                drop.append((*tok.start, *tok.end))
        tree = ast.parse(text)
    except (SyntaxError, tokenize.TokenError):
        return text
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str) and first.end_lineno and first.end_col_offset is not None):
                drop.append((first.lineno, _chars(lines[first.lineno - 1], first.col_offset),
                             first.end_lineno, _chars(lines[first.end_lineno - 1], first.end_col_offset)))
    for start, col, end, end_col in sorted(drop, reverse=True):  # from the end, so earlier positions hold
        head, tail = lines[start - 1][:col], lines[end - 1][end_col:]
        lines[start - 1 : end] = [head + tail]
    return "\n".join(line.rstrip() for line in lines if line.strip())


def _chars(line: str, byte_offset: int) -> int:
    """ast's UTF-8 byte offset on `line` as a character index."""
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))


def code_hash(names: Iterable[str], src: Path = SRC) -> str:
    """A short hash of the named modules' code (`code_text`), each under its module name."""
    known = modules(src)
    digest = hashlib.sha256()
    for name in sorted(set(names)):
        digest.update(f"{name}\0{code_text(known[name])}\0".encode())
    return digest.hexdigest()[:16]


def stage_code_hash(stage: str, src: Path = SRC) -> str:
    """The code hash of everything stage `stage` runs (`stage_modules`)."""
    return code_hash(stage_modules(stage, src), src)


def runs_code_hash(starts: Iterable[str], src: Path = SRC) -> str:
    """The code hash of `starts` and everything they run."""
    return code_hash(runs(starts, runtime_graph(src)), src)
