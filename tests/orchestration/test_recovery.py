"""A failed or killed stage leaves the previous outputs; a failed run keeps the previous drift reference;
a rejected snapshot is set aside; MLflow runs a killed run left RUNNING end as KILLED (real sqlite store)."""

from __future__ import annotations

import shutil

from mtlops.orchestration import recovery
from tests.helpers import make_project
from tests.orchestration.helpers import REPO


def _project(tmp_path):
    cfg, paths = make_project(tmp_path / "proj")
    shutil.copy(REPO / "dvc.yaml", paths.root / "dvc.yaml")
    return cfg, paths


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_failed_stage_gets_its_previous_outputs_back_as_dvc_deleted_them(tmp_path):
    _cfg, paths = _project(tmp_path)
    _write(paths.checkpoint, "old model")
    _write(paths.history, "old history")
    recovery.begin_run(paths)
    outputs = recovery.stage_outputs(paths.root, "train")
    assert set(outputs) == {paths.model_dir, paths.history}
    recovery.begin_stage(paths, "train", outputs)
    shutil.rmtree(paths.model_dir)  # what DVC does before running the stage
    paths.history.unlink()
    _write(paths.checkpoint, "half a new model")  # then the stage fails

    done = recovery.fail_run(paths, "train")
    assert done == ["restored the previous outputs of stage 'train'"]
    assert paths.checkpoint.read_text() == "old model" and paths.history.read_text() == "old history"


def test_a_failed_run_keeps_the_drift_reference_it_started_with(tmp_path):
    _cfg, paths = _project(tmp_path)
    _write(paths.accepted_profile, '{"rows": 100}')
    recovery.begin_run(paths)
    _write(paths.accepted_profile, '{"rows": 200}')  # validate accepted the new snapshot; prepare then fails
    assert "kept the previous drift reference" in " ".join(recovery.fail_run(paths, "prepare"))
    assert paths.accepted_profile.read_text() == '{"rows": 100}'

    recovery.begin_run(paths)  # a successful run moves it for good
    _write(paths.accepted_profile, '{"rows": 300}')
    recovery.end_run(paths)
    assert paths.accepted_profile.read_text() == '{"rows": 300}' and not recovery.stash_dir(paths).exists()


def test_a_rejected_snapshot_is_set_aside_and_the_accepted_one_comes_back(tmp_path):
    _cfg, paths = _project(tmp_path)
    _write(paths.raw_snapshot, "accepted rows")
    recovery.begin_run(paths)
    recovery.begin_stage(paths, "ingest", recovery.stage_outputs(paths.root, "ingest"))
    shutil.rmtree(paths.raw_dir)
    _write(paths.raw_snapshot, "rejected rows")
    recovery.begin_stage(paths, "validate", recovery.stage_outputs(paths.root, "validate"))
    _write(paths.validation_summary, '{"success": false}')

    recovery.fail_run(paths, "validate")
    assert paths.raw_snapshot.read_text() == "accepted rows"
    rejected = paths.root / "data" / "rejected"
    assert (rejected / "snapshot.parquet").read_text() == "rejected rows"
    assert (rejected / "validation_summary.json").exists() and paths.validation_summary.exists()


def test_mlflow_runs_a_killed_run_left_running_end_as_killed(tmp_path):
    import time

    from mlflow import MlflowClient
    from mtlops.tracking import setup_mlflow, tracking_uri

    cfg, paths = _project(tmp_path)
    before = time.time()
    experiment = setup_mlflow(cfg, paths)
    client = MlflowClient(tracking_uri(paths))
    left = client.create_run(experiment).info.run_id  # a killed process never ended it
    done = client.create_run(experiment).info.run_id
    client.set_terminated(done, "FINISHED")

    lines = recovery.recover(cfg, paths, {"pid": 1, "started": before})
    assert lines == ["ended 1 MLflow run left RUNNING as KILLED"]
    assert client.get_run(left).info.status == "KILLED" and client.get_run(done).info.status == "FINISHED"
