"""Faults of processes and stores, inflicted on real `mtlops` commands (#18 observations 6, 7, 8, 9, 10).

Each test starts mtlops as a user would (its own session, PREFECT_HOME in a temp dir, a tiny DVC
project with its own MLflow sqlite store), does to it what went wrong in the field — a second run, a
SIGTERM, a SIGKILL, a read-only store, a bad snapshot — and checks what is left: the exit code, the
first line of the error, every process, the outputs, the drift reference, the MLflow runs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from mtlops.config import deep_merge
from tests.helpers import mixed_params, synthetic_params, write_mixed_csv
from tests.orchestration.helpers import dvc_project, registered_versions
from tests.orchestration.procs import MTLOPS, clean_env, family, start, stop, survivors, wait_for
from tests.orchestration.readonly import read_only
from tests.registry.conftest import served, trained  # noqa: F401 (a registered champion, for `mtlops serve`)

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

FAST = {"search": {"enabled": False}, "train": {"epochs": 1}, "evaluation": {"bootstrap": 10},
        "promotion": {"delta_m_floor": -1000.0}}


def _project(tmp_path: Path, overrides: dict | None = None) -> Path:
    return dvc_project(tmp_path / "proj", deep_merge(deep_merge(synthetic_params(), FAST), overrides or {}))


def _run(root: Path, tmp_path: Path, timeout_s: float = 900) -> tuple[int, str, float]:
    started = time.monotonic()
    proc = subprocess.run([MTLOPS, "run", "--params", str(root / "params.yaml")], capture_output=True, text=True,
                          env=clean_env(tmp_path), cwd=root, timeout=timeout_s, check=False)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def _every_stage_in_process(root: Path) -> None:
    """The pipeline's stages run here, on the project's own store: a set-up at a fraction of `mtlops run`'s cost
    (no Prefect server, no process per stage)."""
    from mtlops.checks import load_checked
    from mtlops.paths import Paths
    from mtlops.stages import STAGE_NAMES, run_stages

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        run_stages(load_checked(root / "params.yaml"), Paths.for_params(root / "params.yaml"), STAGE_NAMES)
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI", None)


def _first_error(output: str) -> str:
    return next((line for line in output.splitlines() if line.startswith("error: ")), "")


def _holder(root: Path) -> dict | None:
    lock = root / ".mtlops" / "run.lock"
    text = lock.read_text().strip() if lock.exists() else ""
    return json.loads(text) if text else None


# -------------------------------------------------------------------------- 6, 7: two runs, then SIGTERM
@pytest.mark.xdist_group("faults-run")
def test_a_second_run_fails_at_once_and_sigterm_leaves_no_process(tmp_path):
    root = _project(tmp_path)
    log = tmp_path / "first.log"
    first = start([MTLOPS, "run", "--params", str(root / "params.yaml")], log, clean_env(tmp_path), cwd=root)
    try:
        wait_for("the first run to hold the lock", lambda: _holder(root), 120, log)
        code, output, seconds = _run(root, tmp_path)
        assert code == 1 and seconds < 30, output
        assert _first_error(output).startswith(f"error: {root}: another run is in progress: pid {first.pid} ")
        assert "Traceback" not in output

        wait_for("the first run's stages", lambda: "Running stage" in log.read_text(), 300, log)
        procs = family(first.pid)
        assert any("uvicorn" in " ".join(p.cmdline()) for p in procs)  # its Prefect API server
        signalled = time.monotonic()
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 128 + signal.SIGTERM
        assert survivors(procs, within_s=5) == []
        assert time.monotonic() - signalled < 15
        assert "stopped by SIGTERM" in log.read_text()
    finally:
        stop(first)


# ------------------------------------------------------------------------------- 8: a read-only store
def test_a_read_only_store_fails_before_any_stage_naming_the_store(tmp_path):
    from mtlops.config import load_config
    from mtlops.orchestration.store_check import check_tracking_store
    from mtlops.paths import Paths

    root = _project(tmp_path)
    check_tracking_store(load_config(root / "params.yaml"), Paths.at(root))  # the store exists, then goes read-only
    with read_only(root / "mlflow"):
        code, output, seconds = _run(root, tmp_path)
    assert code == 1, output
    assert _first_error(output).startswith(f"error: tracking store sqlite:///{root}/mlflow/mlflow.db is not writable")
    assert "Traceback" not in output and "Running stage" not in output
    assert not (root / "data").exists()  # nothing was rewritten
    print(f"read-only store detected in {seconds:.1f} s")


# ------------------------------------------------------ 10: a deterministic data error, a rejected snapshot
@pytest.mark.xdist_group("faults-run")
def test_a_bad_snapshot_fails_once_in_one_line_and_moves_nothing(tmp_path):
    root = _project(tmp_path)
    # set-up: an accepted snapshot and a champion, made in-process (a third of the test's time under `mtlops run`;
    # the flow through DVC succeeding is test_flow's, the command starting its stages the test above)
    _every_stage_in_process(root)
    accepted = (root / "data" / "profile" / "accepted.json").read_text()
    snapshot = (root / "data" / "raw" / "snapshot.parquet").read_bytes()
    champion = [v.version for v in registered_versions(root, "tiny-mtl") if "champion" in v.aliases]

    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["synthetic"]["n"] = 240  # 60 % of the rows gone: the row-count drift check fails
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    code, output, seconds = _run(root, tmp_path)

    assert code == 1, output
    assert _first_error(output).startswith("error: validation failed")
    assert "report: " in output and "Traceback" not in output
    assert output.count("Running stage 'validate'") == 1  # not retried
    assert (root / "data" / "profile" / "accepted.json").read_text() == accepted
    assert (root / "data" / "raw" / "snapshot.parquet").read_bytes() == snapshot
    assert (root / "data" / "rejected" / "snapshot.parquet").exists()
    assert [v.version for v in registered_versions(root, "tiny-mtl") if "champion" in v.aliases] == champion
    print(f"validation error reported in {seconds:.1f} s")


# --------------------------------------------- 10: a deterministic error in a stage that retries is not retried
@pytest.mark.xdist_group("faults-run")
def test_a_deterministic_ingest_error_is_not_retried_and_prints_one_line(tmp_path):
    csv = write_mixed_csv(tmp_path / "rows.csv")
    root = dvc_project(tmp_path / "proj", deep_merge(mixed_params(csv), FAST))
    csv.write_text(csv.read_text().splitlines()[0] + "\n")  # the header is there (config checks pass), no rows
    code, output, seconds = _run(root, tmp_path)
    assert code == 1, output
    assert _first_error(output) == f"error: stage 'ingest': {csv}: file has no rows"
    assert output.count("Running stage 'ingest'") == 1 and "Traceback" not in output
    print(f"ingest data error reported in {seconds:.1f} s")


# ----------------------------------------- 7, 9, 10: SIGKILL mid-search, then the next run recovers it all
@pytest.mark.faults_slow
@pytest.mark.xdist_group("faults-run")
def test_sigkill_mid_stage_leaves_no_process_and_the_next_run_recovers(tmp_path):
    from mlflow import MlflowClient

    root = _project(tmp_path, {"search": {"enabled": True, "n_trials": 2, "timeout_s": 60, "epochs": 1}})
    code, output, _ = _run(root, tmp_path)
    assert code == 0, output
    best = (root / "data" / "models" / "best_params.json").read_bytes()

    original = (root / "params.yaml").read_text()
    longer = yaml.safe_load(original)
    longer["search"] |= {"n_trials": 200, "timeout_s": 600}  # search reruns, and runs long enough to be killed
    (root / "params.yaml").write_text(yaml.safe_dump(longer, sort_keys=False))
    log = tmp_path / "killed.log"
    run = start([MTLOPS, "run", "--params", str(root / "params.yaml")], log, clean_env(tmp_path), cwd=root)
    try:
        trial = re.compile(r"'search-\w+' - trial \d+[/ ]")  # 'trial 3/200 · …'
        wait_for("a search trial", lambda: trial.search(log.read_text()), 600, log)
        procs = family(run.pid)
        os.kill(run.pid, signal.SIGKILL)
        run.wait(10)
        assert survivors(procs, within_s=10) == []
    finally:
        stop(run)
    uri = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    running = client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'")
    assert running  # the killed search's runs
    assert not (root / "data" / "models" / "best_params.json").exists()  # DVC deleted it before the search

    (root / "params.yaml").write_text(original)  # back to the params of the last good run
    code, output, _ = _run(root, tmp_path)
    assert code == 0, output
    assert "recovered from an interrupted run: restored the previous outputs of stage 'search'" in output
    assert "MLflow run" in output and "as KILLED" in output
    assert (root / "data" / "models" / "best_params.json").read_bytes() == best
    assert "Stage 'search' didn't change" in output  # its outputs came back whole: nothing to redo
    assert {client.get_run(r.info.run_id).info.status for r in running} == {"KILLED"}


# --------------------------------------------------------------------------------- 7: SIGKILL of serve
@pytest.mark.faults_slow
def test_sigkill_of_serve_leaves_no_model_server_and_a_left_one_is_reclaimed(served, tmp_path):  # noqa: F811 (fixture)
    import urllib.request

    from mtlops.processes import free_port

    _cfg, paths, _ = served
    port = free_port()
    argv = [MTLOPS, "serve", "--params", str(paths.root / "params.yaml"), "--port", str(port)]

    def answering() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    first = start(argv, tmp_path / "serve1.log", clean_env(tmp_path))
    try:
        wait_for("the model server", answering, 300, tmp_path / "serve1.log")
        procs = family(first.pid)
        os.kill(first.pid, signal.SIGKILL)
        assert survivors(procs, within_s=10) == [] and not answering()  # its keeper stopped the server
    finally:
        stop(first)

    # both mtlops and its keeper killed at once: the model server is left answering on the port...
    second = start(argv, tmp_path / "serve2.log", clean_env(tmp_path))
    third = None
    try:
        wait_for("the model server", answering, 300, tmp_path / "serve2.log")
        procs = family(second.pid)
        keeper = next(p for p in procs if "mtlops.keeper" in " ".join(p.cmdline()))
        for p in (second.pid, keeper.pid):
            os.kill(p, signal.SIGKILL)
        time.sleep(1)
        assert answering()
        # ...and the next `mtlops serve` on that port reclaims it, then stops cleanly on SIGTERM
        third = start(argv, tmp_path / "serve3.log", clean_env(tmp_path))
        wait_for("the port reclaimed", lambda: "reclaimed port" in (tmp_path / "serve3.log").read_text(), 120,
                 tmp_path / "serve3.log")
        wait_for("the new model server", answering, 300, tmp_path / "serve3.log")
        procs = family(third.pid)
        third.send_signal(signal.SIGTERM)
        assert third.wait(30) == 128 + signal.SIGTERM
        assert survivors(procs, within_s=10) == [] and not answering()
    finally:
        stop(second)
        if third is not None:
            stop(third)
