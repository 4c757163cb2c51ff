"""The `mtlops` command: every stage is there, user mistakes are one line and exit 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from mtlops.stages import STAGE_NAMES

REPO = Path(__file__).resolve().parents[1]
MTLOPS = [sys.executable, "-m", "mtlops.cli"]


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([*MTLOPS, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_help_lists_every_stage_and_command_without_heavy_imports():
    proc = run("--help")
    assert proc.returncode == 0
    for name in [*STAGE_NAMES, "run", "predict", "serve", "lineage", "simulate", "schedule"]:
        assert name in proc.stdout
    probe = ("import sys, mtlops.cli; "
             "print(sorted(m for m in ('torch','mlflow','prefect','great_expectations','optuna') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "[]"


def test_model_name_reads_the_yaml_without_torch():
    """A command that only reads a key of params.yaml loads no torch (the task types' heads are the models')."""
    probe = (
        "import sys\nfrom mtlops.cli import app\n"
        "try:\n    app(['model-name', '--params', sys.argv[1]])\nexcept SystemExit as stop:\n    assert not stop.code\n"
        "print('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", probe, str(REPO / "params.yaml")], capture_output=True, text=True,
                          timeout=120, check=False)
    model_name = yaml.safe_load((REPO / "params.yaml").read_text())["project"]["model_name"]
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [model_name, "False"]


def test_default_params_file_is_valid():
    proc = run("check")
    assert proc.returncode == 0, proc.stderr
    assert "3 tasks" in proc.stdout


def test_bad_params_exit_1_with_the_key_named(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"]["epochz"] = 3
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(params))
    proc = run("check", "--params", str(bad))
    assert proc.returncode == 1
    assert "train.epochz" in proc.stderr and "unknown key" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_stage_runs_from_the_command_line(project):
    _, paths = project
    proc = run("ingest", "--params", str(paths.root / "params.yaml"), cwd=paths.root)
    assert proc.returncode == 0, proc.stderr
    assert paths.raw_snapshot.exists()


def test_force_without_reason_is_refused(project):
    _, paths = project
    proc = run("promote", "--force", "--params", str(paths.root / "params.yaml"))
    assert proc.returncode == 1 and "--reason" in proc.stderr


def test_a_storage_password_on_the_command_line_is_refused_and_never_echoed(tmp_path):
    """`--storage postgresql://user:password@…` put the password in the process list for the whole search
    (#25); the URL belongs in MTLOPS_SEARCH_STORAGE."""
    url = "postgresql://me:s3cret@127.0.0.1:9/optuna"
    proc = run("search", "--storage", url, "--params", str(REPO / "params.yaml"), cwd=tmp_path)
    assert proc.returncode == 1
    assert "s3cret" not in proc.stdout + proc.stderr
    assert "--storage postgresql://me:***@127.0.0.1:9/optuna: a password on the command line" in proc.stderr
    assert "MTLOPS_SEARCH_STORAGE" in proc.stderr
    assert not (tmp_path / "data").exists()


def test_a_stage_prints_a_few_readable_lines_and_writes_the_whole_summary_as_json(tmp_path):
    """`mtlops prepare` printed ~570 lines of JSON (#27): now a line per key, the JSON in a file."""
    import json

    from mtlops.stages import run_stages
    from tests.helpers import make_project

    cfg, paths = make_project(tmp_path)
    run_stages(cfg, paths, ["ingest", "validate"])
    proc = run("prepare", "--params", str(paths.root / "params.yaml"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # every line but the last (a path, as long as the temp folder's) fits a terminal
    assert len(lines) <= 10 and max(len(line) for line in lines[:-1]) <= 110, proc.stdout
    assert lines[0].startswith("rows: train ") and lines[-1].startswith("whole summary: ")
    saved = json.loads(Path(lines[-1].removeprefix("whole summary: ")).read_text())
    assert saved["rows"]["train"] > 0 and saved["inputs"]["num"]["dim"] > 0 and saved["stage"] == "prepare"
    as_json = json.loads(run("prepare", "--params", str(paths.root / "params.yaml"), "--json").stdout)
    assert as_json.keys() == saved.keys()
