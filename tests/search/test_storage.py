"""Study naming and storage: stable names, resumable storage, refusals, stale-trial cleanup."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

from mtlops.config import with_overrides
from mtlops.search.storage import (
    SearchStorageError,
    check_workers,
    fail_stale_trials,
    make_storage,
    open_study,
    redact,
    storage_url,
    study_name,
)


def test_study_name_is_stable_and_follows_the_problem(project):
    cfg, paths = project
    name = study_name(cfg, paths)
    assert name == study_name(cfg, paths)
    assert name.startswith("tiny-")
    # the budget is not part of the problem: raising it continues the same study
    assert study_name(with_overrides(cfg, {"search": {"n_trials": 50, "timeout_s": 999}}), paths) == name
    # new data (the snapshot's content hash) or another split is another problem
    paths.raw_meta.parent.mkdir(parents=True, exist_ok=True)
    paths.raw_meta.write_text(json.dumps({"sha256": "abc"}))
    assert study_name(cfg, paths) != name
    assert study_name(with_overrides(cfg, {"split": {"val_fraction": 0.25}}), paths) != study_name(cfg, paths)
    assert study_name(with_overrides(cfg, {"search": {"study_name": "mine"}}), paths) == "mine"


def test_null_method_lists_are_the_study_of_every_registered_method(project, monkeypatch):
    from mtlops.models.architectures import ARCHITECTURES
    from mtlops.weighting import WEIGHTINGS

    cfg, paths = project
    null = with_overrides(cfg, {"search": {"space": {"architectures": None, "weightings": None}}})
    by_default = [name for name, cls in ARCHITECTURES.items() if cls.default_search]
    spelled = with_overrides(cfg, {"search": {"space": {"architectures": by_default,
                                                        "weightings": list(WEIGHTINGS)}}})
    assert study_name(null, paths) == study_name(spelled, paths)
    monkeypatch.setitem(WEIGHTINGS, "new", WEIGHTINGS["equal"])  # another registered method: another problem
    assert study_name(null, paths) != study_name(spelled, paths)


def test_default_storage_is_a_journal_file_that_persists(project):
    cfg, paths = project
    name = study_name(cfg, paths)
    url = storage_url(cfg, paths, name)
    assert url.endswith(f"data/search/{name}.journal")
    study = open_study(cfg, paths)
    study.enqueue_trial({"lr": 0.01})
    again = open_study(cfg, paths)
    assert again.study_name == name
    assert [t.state for t in again.trials] == [TrialState.WAITING]


def test_sqlite_is_refused_for_parallel_workers():
    check_workers("sqlite:///x.db", 1)
    check_workers("/tmp/x.journal", 4)
    with pytest.raises(SearchStorageError, match=r"sqlite.*4 parallel workers"):
        check_workers("sqlite:///x.db", 4)


def test_redact_hides_the_password():
    assert redact("postgresql://me:secret@db:5432/optuna") == "postgresql://me:***@db:5432/optuna"
    assert redact("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"


def test_running_trials_of_dead_processes_are_failed(tmp_path):
    storage = make_storage(str(tmp_path / "s.journal"))
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = study.ask()
    gone.set_user_attr("worker", f"{socket.gethostname()}:{int(dead.stdout)}")
    alive = study.ask()
    alive.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    elsewhere = study.ask()
    elsewhere.set_user_attr("worker", "another-host:1")
    assert fail_stale_trials(study) == [gone.number]
    states = {t.number: t.state for t in study.trials}
    assert states[gone.number] == TrialState.FAIL
    assert states[alive.number] == states[elsewhere.number] == TrialState.RUNNING


def test_a_running_trial_that_names_no_owner_is_failed_after_the_grace(tmp_path):
    """`owner_alive(None)` was True: a worker that died between taking a trial and naming itself left a
    trial every other worker waited on forever."""
    import time

    storage = make_storage(str(tmp_path / "s.journal"))
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    orphan = study.ask()  # no "worker" attribute, as a worker killed right after `ask` leaves it
    assert fail_stale_trials(study, grace_s=60) == []  # within the grace: its worker may be naming itself now
    time.sleep(1.1)
    assert fail_stale_trials(study, grace_s=1) == [orphan.number]
    assert study.trials[orphan.number].state == TrialState.FAIL
