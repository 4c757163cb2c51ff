"""What a person sees in the MLflow UI after a run: screenshots of the model version's page, the run's page
and the model list, in headless Chromium, on a tiny project (a minute or two on 2 cores).

    .venv/bin/python benchmarks/version_page_screenshot.py [--out reports/screenshots] [--keep]

Trains the tests' tiny `mixed` project (binary, multiclass, masked regression) through the real stages,
registers and promotes version 1 inside a pipeline run (as the flow does, with its summary), registers a
degraded version 2 that the gate refuses, starts the MLflow UI the way `mtlops ui` does (on a free port),
and saves one PNG per page, opened in the UI's model-training view (`?workflowType=machine_learning`).
Needs Chromium (`apt-get install chromium`; Debian's package).
Nothing leaves 127.0.0.1: Chromium runs with a fresh profile and its background networking off.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import make_project

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]
VIEW = "?workflowType=machine_learning"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("no Chromium found: apt-get update && apt-get install -y chromium")


def screenshot(url: str, out: Path, size: str = "1500,1900", wait_ms: int = 20000) -> None:
    """One page, after `wait_ms` of virtual time for the UI's requests to come back."""
    with tempfile.TemporaryDirectory() as profile:
        argv = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={size}",
                f"--virtual-time-budget={wait_ms}", f"--screenshot={out}", url]
        subprocess.run(argv, check=True, capture_output=True, timeout=180)
    print(f"{out}  ←  {url}", flush=True)


def trained_project(root: Path):
    """The tiny project, registered inside a pipeline run as the flow does (v1 promoted), then a degraded
    copy evaluated and registered as v2 (refused); returns (cfg, paths, the pipeline's MLflow run id)."""
    from mtlops.orchestration.flow import record_outcome, summarise, summary_markdown
    from mtlops.registry.promote import promote
    from mtlops.registry.register import register
    from mtlops.stages import run_stage, run_stages
    from mtlops.tracking import pipeline_run
    from tests.registry.helpers import degrade

    overrides = {"search": {"enabled": False},
                 "promotion": {"delta_m_floor": -100.0, "allow_tradeoff": ["churn", "segment", "amount"],
                               "bootstrap": 200}}
    cfg, paths = make_project(root, kind="mixed", overrides=overrides)
    start = time.perf_counter()
    stages = run_stages(cfg, paths, ["ingest", "validate", "prepare", "baselines", "search", "grouping", "train",
                                     "evaluate"])
    with pipeline_run(cfg, paths, "retrain 2026-12-06 demo-run") as pipeline:
        stages["register"] = run_stage("register", cfg, paths)
        stages["promote"] = run_stage("promote", cfg, paths)
        run_id = pipeline.find(cfg, paths)
    result = summarise(paths, stages, wall=time.perf_counter() - start)
    record_outcome(cfg, paths, run_id, summary_markdown(result, json.loads(paths.metrics.read_text())))

    degrade(paths.checkpoint, {"amount": 0.05})  # v2: a worse `amount` head, evaluated and registered
    run_stage("evaluate", cfg, paths)
    second = register(cfg, paths)
    decision = promote(cfg, paths)
    print(f"v1 champion; v{second['version']}: {decision['decision']}", flush=True)
    return cfg, paths, run_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("reports/screenshots"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.pop("MLFLOW_TRACKING_URI", None)

    from mtlops.orchestration.ui import start_mlflow_ui
    from mtlops.processes import child_group, free_port

    tmp = Path(tempfile.mkdtemp(prefix="mtlops-ui-"))
    try:
        start = time.perf_counter()
        cfg, paths, run_id = trained_project(tmp / "proj")
        with child_group("ui") as group:
            url = start_mlflow_ui(group, paths, port=free_port())
            name = cfg.project.model_name
            from mlflow import MlflowClient

            experiment = MlflowClient(f"sqlite:///{paths.mlflow_dir / 'mlflow.db'}").get_run(run_id).info.experiment_id
            pages = {
                "version_1.png": f"{url}/#/models/{name}/versions/1{VIEW}",
                "version_2.png": f"{url}/#/models/{name}/versions/2{VIEW}",
                "model.png": f"{url}/#/models/{name}{VIEW}",
                "run.png": f"{url}/#/experiments/{experiment}/runs/{run_id}{VIEW}",
                "experiment.png": f"{url}/#/experiments/{experiment}{VIEW}",
            }
            for file, page in pages.items():
                screenshot(page, args.out / file)
        print(f"{time.perf_counter() - start:.0f} s", flush=True)
    finally:
        if args.keep:
            print(f"project kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
