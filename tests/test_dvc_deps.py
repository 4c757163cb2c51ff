"""dvc.yaml lists every piece of code a stage runs, so a code change reruns exactly the stages it can change.

A stage's code is derived, not hand-kept: the modules `mtlops.stages.<name>` imports at run time,
transitively (imports made only for type checkers left out; a module named in a string counted, as
the source and encoder registries name theirs, or a sibling file named in one, as the packaged model's
code), the packages above each of them (their `__init__` runs on import), plus what makes the stage's
config: `mtlops.schema` with what it imports (its defaults, and the task types', fill every key
params.yaml leaves out) and `mtlops.config` itself (its own imports only check the file, they change
no value). The check fails on a module no dep covers, and on a
`src/` dep that covers none of the stage's modules (a stale path reruns a stage for nothing).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mtlops.code_identity import Graph, modules, runtime_graph, stage_modules
from mtlops.stages import STAGE_NAMES
from tests.test_imports import SRC

REPO = SRC.parents[1]
DVC_STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def stage_files(stage: str, graph: Graph, src: Path = SRC) -> set[str]:
    """The files (as dvc.yaml names them, `src/mtlops/...`) of every module stage `stage` runs
    (`mtlops.code_identity.stage_modules`: the derivation the checkpoint and study fingerprints hash)."""
    paths = modules(src)
    return {"src/" + paths[m].relative_to(src.parent).as_posix() for m in stage_modules(stage, src, graph)}


def covers(dep: str, file: str) -> bool:
    return file == dep or file.startswith(dep.rstrip("/") + "/")


@pytest.fixture(scope="module")
def graph() -> Graph:
    return runtime_graph()


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_dvc_yaml_lists_every_module_the_stage_runs(stage, graph):
    deps = [d for d in DVC_STAGES[stage]["deps"] if d.startswith("src/")]
    files = stage_files(stage, graph)
    missing = sorted(f for f in files if not any(covers(d, f) for d in deps))
    assert not missing, f"dvc.yaml stage {stage!r} runs code it does not list in deps: {missing}"
    stale = [d for d in deps if not any(covers(d, f) for f in files)]
    assert not stale, f"dvc.yaml stage {stage!r} lists code it never runs: {stale}"


def test_the_derivation_follows_lazy_string_and_package_imports(graph):
    ingest = stage_files("ingest", graph)
    assert "src/mtlops/data/sources/flights.py" in ingest  # named in the SOURCES registry
    assert "src/mtlops/data/__init__.py" in ingest and "src/mtlops/schema.py" in ingest
    assert "src/mtlops/models/model.py" not in ingest
    assert "src/mtlops/training/trainer.py" in stage_files("evaluate", graph)  # loads models through training
    assert "src/mtlops/registry/model_code.py" in stage_files("register", graph)  # packaged as the model's code


def test_a_type_checking_import_is_not_a_dependency(tmp_path):
    pkg = tmp_path / "mtlops"
    (pkg / "stages").mkdir(parents=True)
    for name in ("__init__", "config", "schema", "stages/__init__", "typed", "named", "used"):
        (pkg / f"{name}.py").write_text("")
    (pkg / "stages" / "s.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mtlops import typed\n"
        "def run():\n    from mtlops import used\nREGISTRY = {'x': 'mtlops.named'}\n"
    )
    files = stage_files("s", runtime_graph(pkg), pkg)
    assert {"src/mtlops/used.py", "src/mtlops/named.py", "src/mtlops/stages/__init__.py"} <= files
    assert not any(f.endswith("typed.py") for f in files)
