"""The packages sit in layers and every import points down: no package cycle, the config floor torch-free.

Every import counts — module level, inside functions and under TYPE_CHECKING — because a lazy
import is still a dependency: it only moves the failure from import time to run time. The layer
order is CONTRIBUTING.md's diagram; a package may import from its own layer's other packages only
where that makes no cycle.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import networkx as nx

from mtlops import code_identity
from mtlops.code_identity import modules

SRC = Path(__file__).resolve().parents[1] / "src" / "mtlops"


def _modules(src: Path) -> dict[str, Path]:
    return modules(src)


def import_graph(src: Path = SRC, type_checking: bool = True) -> nx.DiGraph:
    """module → every mtlops module it imports (`mtlops.code_identity.import_graph`, as a networkx graph).

    `type_checking=False` leaves out imports made only for type checkers: what runs, not what is named.
    """
    graph = nx.DiGraph()
    for module, targets in code_identity.import_graph(src, type_checking).items():
        graph.add_node(module)
        graph.add_edges_from((module, t) for t in targets)
    return graph


# lowest first; a "package" is a subpackage of mtlops or one of its top-level modules
LAYERS: list[set[str]] = [
    {"errors", "io", "paths", "experiment", "columns", "processes", "keeper", "code_identity", "parallel"},
    {"task_types"},
    {"schema"},
    {"config"},
    {"data", "tracking", "notify"},
    {"validation"},
    {"metrics"},
    {"methods"},
    {"models", "weighting"},
    {"catalog"},
    {"training"},
    {"baselines", "evaluation", "serving"},
    {"search", "grouping"},
    {"checks"},
    {"registry"},
    {"monitoring"},
    {"stages"},
    {"orchestration", "stack"},
    {"cli", "__main__"},
]
ROOT = "mtlops"  # the package's own __init__: telemetry switches and the version, importable by all


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def package_graph(src: Path = SRC) -> nx.DiGraph:
    """package → packages it imports, each edge carrying the module-level imports that make it."""
    graph = nx.DiGraph()
    for a, b in import_graph(src).edges:
        pa, pb = package_of(a), package_of(b)
        if pa != pb:
            if not graph.has_edge(pa, pb):
                graph.add_edge(pa, pb, why=[])
            graph.edges[pa, pb]["why"].append(f"{a} -> {b}")
    return graph


def layer_of(package: str) -> int:
    for index, layer in enumerate(LAYERS):
        if package in layer:
            return index
    return -1 if package == ROOT else len(LAYERS)


def layer_violations(graph: nx.DiGraph) -> list[str]:
    return [
        f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)}): {why[:3]}"
        for a, b, why in graph.edges(data="why")
        if layer_of(b) > layer_of(a)
    ]


def package_cycles(graph: nx.DiGraph) -> list[list[str]]:
    return [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]


def test_the_graph_sees_real_imports():
    graph = import_graph()
    assert graph.has_edge("mtlops.config", "mtlops.schema")
    assert graph.has_edge("mtlops.training.trainer", "mtlops.weighting")
    assert package_graph().has_edge("training", "models")


def test_every_package_has_a_layer():
    packages = package_graph().nodes | {package_of(m) for m in import_graph()}
    unplaced = sorted(p for p in packages if layer_of(p) == len(LAYERS))
    assert not unplaced, f"packages in no layer of LAYERS (add them to CONTRIBUTING.md's diagram and here): {unplaced}"


def test_imports_point_down_the_layers():
    violations = layer_violations(package_graph())
    assert not violations, "imports that point up a layer:\n" + "\n".join(violations)


def test_no_package_cycles():
    cycles = package_cycles(package_graph())
    assert not cycles, f"package import cycles (lazy imports counted): {cycles}"


def test_no_module_cycles():
    cycles = [sorted(c) for c in nx.strongly_connected_components(import_graph()) if len(c) > 1]
    assert not cycles, f"import cycles in src/mtlops: {cycles}"


def _write(root: Path, files: dict[str, str]) -> Path:
    pkg = root / "mtlops"
    for name, text in {"__init__.py": "", **files}.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    return pkg


def test_a_lazy_cycle_between_packages_fails(tmp_path):
    """The check itself can fail: a function-level import across two packages closes a package cycle,
    though no module imports itself and nothing at module level is circular."""
    pkg = _write(
        tmp_path,
        {
            "data/__init__.py": "",
            "data/load.py": "from mtlops.task_types.kinds import KINDS\n",
            "task_types/__init__.py": "",
            "task_types/kinds.py": "KINDS = []\ndef read():\n    from mtlops.data.rules import rule\n",
            "data/rules.py": "def rule():\n    pass\n",
        },
    )
    assert not [c for c in nx.strongly_connected_components(import_graph(pkg)) if len(c) > 1]
    graph = package_graph(pkg)
    assert package_cycles(graph) == [["data", "task_types"]]
    assert any(v.startswith("task_types (layer 1) imports data (layer 4)") for v in layer_violations(graph))


def test_a_detected_module_cycle_fails(tmp_path):
    pkg = _write(
        tmp_path,
        {
            "a.py": "def f():\n    from mtlops import b\n",
            "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mtlops.a import f\n",
        },
    )
    cycles = [c for c in nx.strongly_connected_components(import_graph(pkg)) if len(c) > 1]
    assert cycles == [{"mtlops.a", "mtlops.b"}]


CONFIG_FLOOR = ("mtlops.schema", "mtlops.config", "mtlops.task_types")


def test_the_config_floor_imports_no_training_code():
    """schema, config and task types reach nothing above them, even lazily: no model, trainer or stage."""
    graph = package_graph()
    reached = set().union(*(nx.descendants(graph, package_of(m)) for m in CONFIG_FLOOR))
    assert {layer_of(p) for p in reached} <= set(range(layer_of("config") + 1)) | {-1}, sorted(reached)


def test_reading_the_config_loads_no_torch(tmp_path):
    """`mtlops model-name` reads one YAML key: it must not pay for torch (seconds) to do it."""
    code = (
        "import sys\n"
        "import mtlops.schema, mtlops.config, mtlops.task_types\n"
        "from mtlops.config import load_config\n"
        "cfg = load_config(sys.argv[1])\n"
        "print(cfg.project.model_name)\n"
        "heavy = [m for m in ('torch', 'lightgbm', 'mlflow', 'prefect', 'great_expectations', 'optuna')\n"
        "         if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    params = Path(__file__).resolve().parents[1] / "params.yaml"
    out = subprocess.run([sys.executable, "-c", code, str(params)], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out, out
