"""A failed or killed run leaves the project as the last good run left it, without a hand-run `dvc checkout`.

DVC deletes a stage's outputs before running it, so a stage that fails, or a run killed mid-stage,
would leave nothing behind. The flow therefore keeps, for the run's length, a stash in
`<root>/.mtlops/stash/` (hard links: no copy of the data):

- before each stage that runs through DVC, that stage's outputs (dvc.yaml `outs`/`metrics`/`plots`,
  except `persist` ones, which DVC keeps);
- at the start of the run, the drift reference `data/profile/accepted.json`: validation replaces it
  when a snapshot passes, but it is the *next* run's reference only once the whole run succeeded.

`fail_run` undoes what the failed stage and the run did: the stage's previous outputs come back (a
failed `validate` keeps its report: that report is the failure's explanation), a rejected snapshot is
set aside in `data/rejected/` and `data/raw/` gets the last accepted one back, the drift reference is
restored. `end_run` drops the stash. A run killed before it could do this leaves the stash and a stale
lock (`mtlops.orchestration.lock`); the next run calls `recover`, which does the same and also ends the
killed run's MLflow runs that were left RUNNING as KILLED.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config

NO_REFERENCE = "absent"


def stash_dir(paths: Paths) -> Path:
    return paths.root / ".mtlops" / "stash"


def _journal(paths: Paths) -> Path:
    return stash_dir(paths) / "run.json"


def read_journal(paths: Paths) -> dict[str, Any] | None:
    try:
        return json.loads(_journal(paths).read_text())
    except (OSError, ValueError):
        return None


def _write_journal(paths: Paths, journal: dict[str, Any]) -> None:
    from mtlops.io import write_json

    write_json(_journal(paths), journal)


# --------------------------------------------------------------------------------------- the run's life
def begin_run(paths: Paths) -> None:
    """A fresh stash holding the drift reference as it is before this run."""
    shutil.rmtree(stash_dir(paths), ignore_errors=True)
    reference = stash_dir(paths) / "accepted.json"
    reference.parent.mkdir(parents=True, exist_ok=True)
    if paths.accepted_profile.exists():
        shutil.copy2(paths.accepted_profile, reference)  # a copy: a link would see an in-place rewrite
    _write_journal(paths, {"started": time.time(), "stage": None,
                           "reference": "stashed" if reference.exists() else NO_REFERENCE})


def begin_stage(paths: Paths, stage: str, outputs: list[Path]) -> None:
    """Before `stage` runs: hard-link its current outputs into the stash (once a run: a retry finds
    them already deleted by DVC, and must not stash that)."""
    journal = read_journal(paths) or {"started": time.time(), "reference": None}
    stashed = journal.setdefault("stashed", {})
    if stage not in stashed:
        target = stash_dir(paths) / "outs" / stage
        for out in outputs:
            if out.exists():
                _link_tree(out, target / out.relative_to(paths.root))
        stashed[stage] = [str(o.relative_to(paths.root)) for o in outputs]
    journal["stage"] = stage
    _write_journal(paths, journal)


def end_stage(paths: Paths) -> None:
    journal = read_journal(paths)
    if journal is not None:
        journal["stage"] = None
        _write_journal(paths, journal)


def fail_run(paths: Paths, stage: str | None) -> list[str]:
    """Undo a run that failed (or was killed) in `stage`; returns what was done, one line each."""
    journal = read_journal(paths) or {}
    done: list[str] = []
    if stage == "validate" and "ingest" in journal.get("stashed", {}):
        done += _set_aside_rejected(paths, journal)
    elif stage and stage in journal.get("stashed", {}) and _restore_stage(paths, stage, journal["stashed"][stage]):
        done.append(f"restored the previous outputs of stage {stage!r}")
    reference = stash_dir(paths) / "accepted.json"
    if journal.get("reference") == "stashed" and reference.exists():
        if not paths.accepted_profile.exists() or not _same_file(reference, paths.accepted_profile):
            paths.accepted_profile.parent.mkdir(parents=True, exist_ok=True)
            os.replace(reference, paths.accepted_profile)
            done.append("kept the previous drift reference (data/profile/accepted.json)")
    elif journal.get("reference") == NO_REFERENCE and paths.accepted_profile.exists():
        paths.accepted_profile.unlink()
        done.append("removed the drift reference this failed run wrote")
    return done


def end_run(paths: Paths) -> None:
    shutil.rmtree(stash_dir(paths), ignore_errors=True)


def recover(cfg: Config, paths: Paths, stale: dict[str, Any]) -> list[str]:
    """Clean up after a run that was killed (its lock went stale): outputs, drift reference, MLflow runs."""
    journal = read_journal(paths)
    done = fail_run(paths, journal.get("stage")) if journal else []
    end_run(paths)
    since = float(stale.get("started", time.time()))
    n = end_orphaned_mlflow_runs(cfg, paths, since, "KILLED")
    if n:
        done.append(f"ended {n} MLflow run{'s' * (n != 1)} left RUNNING as KILLED")
    return done


def end_orphaned_mlflow_runs(cfg: Config, paths: Paths, since: float, status: str) -> int:
    """End this experiment's runs still RUNNING that started at or after `since` (the run's start, epoch
    seconds): the project lock says no other run of this project was going on then."""
    from mtlops.tracking import tracking_uri

    uri = tracking_uri(paths)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return 0  # no store yet: nothing can be RUNNING
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name(cfg.project.experiment)
    if experiment is None:
        return 0
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"attributes.status = 'RUNNING' and attributes.start_time >= {int(since * 1000) - 1000}",
        max_results=1000,
    )
    for run in runs:
        client.set_terminated(run.info.run_id, status=status)
    return len(runs)


# ------------------------------------------------------------------------------------------------ files
def in_process_outputs(paths: Paths, stage: str) -> list[Path]:
    """In-process stages write atomically (the old outputs stay until the new ones are whole); only the
    snapshot is stashed, so that a rejected one can be set aside."""
    return [paths.raw_dir] if stage == "ingest" else []


def stage_outputs(root: Path, stage: str) -> list[Path]:
    """The paths dvc.yaml lets DVC delete before running `stage` (outs, metrics, plots; not `persist`)."""
    import yaml

    spec = (yaml.safe_load((root / "dvc.yaml").read_text()).get("stages") or {}).get(stage) or {}
    outputs = []
    for key in ("outs", "metrics", "plots"):
        for item in spec.get(key) or []:
            name, options = (item, {}) if isinstance(item, str) else next(iter(item.items()))
            if not (options or {}).get("persist"):
                outputs.append(root / name)
    return outputs


def _restore_stage(paths: Paths, stage: str, outputs: list[str]) -> bool:
    source = stash_dir(paths) / "outs" / stage
    restored = False
    for rel in outputs:
        stashed, target = source / rel, paths.root / rel
        if not stashed.exists():
            continue
        _remove(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(stashed, target)
        restored = True
    return restored


def _set_aside_rejected(paths: Paths, journal: dict[str, Any]) -> list[str]:
    """The rejected snapshot goes to data/rejected/ (with its validation summary); data/raw/ gets the last
    accepted snapshot back."""
    if not paths.raw_dir.exists():
        return []
    rejected = paths.root / "data" / "rejected"
    _remove(rejected)
    rejected.parent.mkdir(parents=True, exist_ok=True)
    os.replace(paths.raw_dir, rejected)
    if paths.validation_summary.exists():
        shutil.copy2(paths.validation_summary, rejected / "validation_summary.json")
    done = [f"set the rejected snapshot aside in {rejected.relative_to(paths.root)}/"]
    if _restore_stage(paths, "ingest", journal["stashed"]["ingest"]):
        done.append("data/raw/ holds the last accepted snapshot again")
    return done


def _link_tree(source: Path, target: Path) -> None:
    if source.is_dir():
        for path in source.rglob("*"):
            if path.is_file():
                _link_or_copy(path, target / path.relative_to(source))
    else:
        _link_or_copy(source, target)


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _same_file(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
