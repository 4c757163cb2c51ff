"""The gate fails closed: without evidence it refuses, names the reason, exits non-zero, and `champion`
stays where it was. Real sqlite MLflow store, real registered pyfunc versions broken on purpose."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mtlops.config import with_overrides
from mtlops.registry.promote import PromotionRefused, promote
from mtlops.registry.register import register
from mtlops.registry.store import connect
from tests.registry.conftest import copy_project, own_store, trained  # noqa: F401  (the trained project)
from tests.registry.helpers import aliases, degrade, registered_checkpoint, single_task_is_the_mtl_model


@pytest.fixture
def with_champion(trained, tmp_path):  # noqa: F811
    """(cfg, paths): v1 champion, v2 a challenger as good as it (a slightly changed churn head)."""
    cfg, paths = copy_project(trained, tmp_path / "proj")
    register(cfg, paths)
    assert promote(cfg, paths)["promoted"]
    degrade(paths.checkpoint, {"churn": 1e-4})
    assert register(cfg, paths)["version"] == "2"
    return cfg, paths


def _refused(cfg, paths, match: str) -> dict:
    """Promote, expecting a fail-closed refusal naming `match`; the decision it recorded."""
    name = cfg.project.model_name
    before = aliases(connect(paths), name).get("champion")
    with pytest.raises(PromotionRefused, match=match) as info:
        promote(cfg, paths)
    assert str(info.value).splitlines()[0].startswith(f"promotion of {name} v2 refused (fail closed): ")
    assert aliases(connect(paths), name).get("champion") == before
    decision = json.loads(paths.promotion.read_text())
    assert decision["decision"] == "refused" and not decision["promoted"] and decision["champion"] == before
    assert decision["missing_evidence"] and re.search(match, decision["missing_evidence"][0])
    assert connect(paths).get_model_version(name, "2").tags["gate.decision"] == "refused"
    return decision


def test_a_champion_whose_artifacts_are_gone_refuses_and_force_with_a_reason_overrides(with_champion):
    cfg, paths = with_champion
    name = cfg.project.model_name
    shutil.rmtree(registered_checkpoint(connect(paths), name, "1").parent.parent)
    _refused(cfg, paths, r"champion v1 cannot be scored on the current test rows: model 'mixed-mtl' v1 cannot be load")
    assert aliases(connect(paths), name) == {"champion": "1", "challenger": "2"}

    forced = promote(cfg, paths, force=True, reason="v1's artifacts were lost in the store migration")
    assert forced["decision"] == "forced" and not forced["gate_passed"]
    assert aliases(connect(paths), name) == {"champion": "2"}
    tags = connect(paths).get_model_version(name, "2").tags
    assert tags["gate.forced_reason"] == "v1's artifacts were lost in the store migration"
    assert json.loads(paths.promotion.read_text())["override"]["reason"].startswith("v1's artifacts")


def test_a_champion_predicting_nan_on_the_current_rows_refuses(with_champion):
    import torch

    from mtlops.training import load_model, save_model

    cfg, paths = with_champion
    path = registered_checkpoint(connect(paths), cfg.project.model_name, "1")
    model = load_model(path)
    with torch.no_grad():
        for p in model.task_parameters("amount"):
            p.fill_(float("nan"))
    save_model(model, path)
    _refused(cfg, paths, r"champion v1 cannot be scored on the current test rows: it predicts NaN or inf .*'amount'")


def test_a_task_whose_metric_is_undefined_refuses(with_champion):
    cfg, paths = with_champion
    # the current test window holds one class of churn: its AUC is undefined for every model
    test = dict(np.load(paths.split_arrays("test")))
    test["y_churn"] = np.zeros_like(test["y_churn"])
    np.savez(paths.split_arrays("test"), **test)
    raw = pd.read_parquet(paths.test_raw)
    raw["churn"] = 0
    raw.to_parquet(paths.test_raw, index=False)
    decision = _refused(cfg, paths, r"task 'churn' \(roc_auc, higher is better\) vs champion v1: roc_auc undefined")
    assert "candidate nan, champion v1 nan" in decision["missing_evidence"][0]


def test_a_missing_single_task_model_refuses(with_champion):
    cfg, paths = with_champion
    cfg = with_overrides(cfg, {"promotion": {"allow_tradeoff": []}})
    single_task_is_the_mtl_model(cfg, paths)
    paths.stl_model("amount").unlink()
    _refused(cfg, paths,
             r"task 'amount' \(mae, lower is better\) vs single-task network: no single-task model .*stl_amount.pt")


def test_the_command_exits_1_with_the_reason_in_its_first_line(with_champion):
    cfg, paths = with_champion
    name = cfg.project.model_name
    shutil.rmtree(registered_checkpoint(connect(paths), name, "1").parent.parent)
    mtlops = [sys.executable, "-m", "mtlops.cli", "promote", "--params", str(paths.root / "params.yaml")]
    proc = subprocess.run(mtlops, capture_output=True, text=True, timeout=300, cwd=paths.root, check=False)
    assert proc.returncode == 1
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith("error: promotion of mixed-mtl v2 refused (fail closed): champion v1 cannot be scored")
    assert "Traceback" not in proc.stderr and "--force --reason" in proc.stderr
    assert aliases(connect(paths), name) == {"champion": "1", "challenger": "2"}

    forced = subprocess.run([*mtlops, "--force", "--reason", "restore service"], capture_output=True, text=True,
                            timeout=300, cwd=paths.root, check=False)
    assert forced.returncode == 0, forced.stderr
    assert "promotion: forced (version 2)" in forced.stdout and "restore service" in forced.stdout
    assert aliases(connect(paths), name)["champion"] == "2"
