"""The gate's measurement: the candidate, the champion and each task's single-task model scored now, on the
same current test rows (`data/processed/test.npz` and its raw twin `test_raw.parquet`): the champion's
stored metrics came from older data.

A task's single-task model is its best one: of its single-task network and its LightGBM, the better on
the validation split (`mtlops.baselines.reference.best_single_task`, never chosen on the test rows), so
the gate judges what is served against the best model the pipeline trained without sharing. With
`serving.best_of_baselines: false` it is the single-task network, as before serving choices existed.

One set of bootstrap resamples of those rows (`promotion.bootstrap`, seeded by `project.seed`) serves
every per-task interval, so each comparison is paired; the comparison is evaluation's own
(`mtlops.metrics.compare`), relative to the reference because the gate's tolerances are fractions.
The result is the gate's `Facts` (`mtlops.registry.gate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mtlops.errors import DataError
from mtlops.metrics.compare import Comparison, PairedResamples, Scored, compare
from mtlops.registry.gate import Facts
from mtlops.registry.lineage import VALIDATION
from mtlops.registry.store import RegistryError

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities.model_registry import ModelVersion

    from mtlops.paths import Paths
    from mtlops.schema import Config, TaskConfig


@dataclass
class TestRows:
    """The current test split twice over, row for row: raw (for registered models) and processed."""

    raw: pd.DataFrame
    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.raw)


def test_rows(paths: Paths) -> TestRows:
    import pandas as pd

    from mtlops.data.prepare import load_split

    if not paths.test_raw.is_file():
        raise DataError(f"{paths.test_raw}: current test rows not found; run `mtlops prepare` first")
    raw, arrays = pd.read_parquet(paths.test_raw), load_split(paths, "test")
    n_arrays = len(next(v for k, v in arrays.items() if k.startswith("mask_")))
    if n_arrays != len(raw):
        raise DataError(f"{paths.test_raw} has {len(raw)} rows but {paths.split_arrays('test')} has {n_arrays}: "
                        "they come from different prepare runs; run `mtlops prepare`")
    return TestRows(raw, arrays)


def output_frame(model: Any, raw: pd.DataFrame, cfg: Config, who: str, what: str = "the current test data",
                 ) -> pd.DataFrame:
    """A loaded pyfunc's output columns (`pred_<task>…`) on raw rows; RegistryError (naming `who`) when a
    column it needs is missing or MLflow refuses the rows."""
    from mlflow.exceptions import MlflowException

    from mtlops.registry.pyfunc import conform

    schema = model.metadata.get_input_schema()
    features = schema.input_names() if schema is not None else cfg.features.all_columns()
    missing = [c for c in features if c not in raw.columns]
    if missing:
        raise RegistryError(f"{who} needs column(s) {missing} that {what} lacks")
    try:
        return model.predict(conform(raw[features], schema))
    except MlflowException as err:
        raise RegistryError(f"{who} cannot score {what}: {err.message.splitlines()[-1]}") from err


def predictions(model: Any, rows: TestRows, cfg: Config, who: str, frame: pd.DataFrame | None = None,
                ) -> dict[str, np.ndarray]:
    """Per-task predictions of a loaded pyfunc on the raw test rows (or of its `frame`, already scored), checked finite.

    RegistryError (naming `who`) when the model cannot score these rows: a column it needs is
    missing, its output is unusable, a prediction is NaN or inf. Tasks it does not predict are absent.
    """
    from mtlops.data.prepare import task_meta
    from mtlops.registry.pyfunc import task_predictions

    tasks = [{"name": t.name, **task_meta(t)} for t in cfg.target_tasks]
    preds = task_predictions(output_frame(model, rows.raw, cfg, who) if frame is None else frame, tasks)
    bad = [task for task, values in preds.items() if not np.all(np.isfinite(np.asarray(values, dtype=float)))]
    if bad:
        raise RegistryError(f"{who} predicts NaN or inf for task(s) {bad} on the current test data")
    return preds


SINGLE_TASK_MODELS = {"stl": "network", "gbdt": "LightGBM"}  # how the gate's reasons name them


def single_task_predictions(
    cfg: Config, paths: Paths, rows: TestRows
) -> tuple[dict[str, np.ndarray | str], dict[str, str]]:
    """Each task's best single-task model on the test rows, or why there is none (a string), and which model
    that is ("network" or "LightGBM", per `SINGLE_TASK_MODELS`)."""
    from mtlops.baselines.reference import best_single_task
    from mtlops.io import read_json

    if not paths.baselines_metrics.is_file():
        why = f"no single-task model ({paths.baselines_metrics} not found; run `mtlops baselines`)"
        return dict.fromkeys(cfg.target_names, why), {}
    report = read_json(paths.baselines_metrics, what="baseline report").get("tasks", {})
    kinds = ("stl", "gbdt") if cfg.serving.best_of_baselines else ("stl",)
    best = best_single_task(paths, cfg.task_names, kinds)
    out: dict[str, np.ndarray | str] = {}
    for task in cfg.target_tasks:
        entry, kind = report.get(task.name) or {}, best.get(task.name, "stl")
        if not entry.get(kind):
            why = (entry.get("skipped") or {}).get(kind) or f"none in {paths.baselines_metrics.name}"
            out[task.name] = f"no single-task model ({why})"
            continue
        pred = _single_task(paths, task, kind, entry[kind], rows)
        if isinstance(pred, str):
            out[task.name] = pred
        else:
            finite = np.all(np.isfinite(np.asarray(pred, dtype=float)))
            out[task.name] = pred if finite else f"the single-task {SINGLE_TASK_MODELS[kind]} predicts NaN or inf"
    return out, {t: SINGLE_TASK_MODELS[best.get(t, "stl")] for t in cfg.task_names}


def _single_task(
    paths: Paths, task: TaskConfig, kind: str, entry: dict[str, Any], rows: TestRows
) -> np.ndarray | str:
    """One single-task model's predictions on the test rows, or why it cannot give them."""
    from mtlops.models.gbdt import GbdtModel
    from mtlops.training import load_model, predict

    files = [paths.stl_model(task.name)] if kind == "stl" else [paths.baselines_dir / f for f in entry["files"]]
    missing = [f for f in files if not f.is_file()]
    if missing:
        return f"no single-task model ({missing[0]} not found; run `mtlops baselines`)"
    if kind == "stl":
        return predict(load_model(files[0]), rows.arrays)[task.name]
    return GbdtModel.load(paths.baselines_dir, task.type, entry).predict(rows.arrays)


class Scorer:
    """Each (model, task)'s primary metric on one set of test rows and its paired resamples, scored once."""

    def __init__(self, cfg: Config, rows: TestRows) -> None:
        self.cfg, self.rows = cfg, rows
        self.resamples = PairedResamples(len(rows), cfg.promotion.bootstrap, cfg.project.seed)
        self._cache: dict[tuple[str, str], Scored] = {}

    def metric(self, who: str, task: TaskConfig, pred: np.ndarray) -> Scored:
        """`who`'s predictions for `task` scored on all labelled rows and on each resample."""
        key = (who, task.name)
        if key not in self._cache:
            arrays = self.rows.arrays
            self._cache[key] = self.resamples.score(task, arrays[f"y_{task.name}"], pred, arrays[f"mask_{task.name}"],
                                                    self.cfg.evaluation.calibration_bins)
        return self._cache[key]

    def compare(self, task: TaskConfig, candidate: np.ndarray, who: str, reference: np.ndarray) -> Comparison:
        """The candidate's relative change over `who` on `task`, with its paired interval."""
        return compare(task, self.metric("candidate", task, candidate), self.metric(who, task, reference),
                       self.cfg.promotion.confidence, relative=True)


def _compare_all(scorer: Scorer, cfg: Config, cand: dict[str, np.ndarray], who: str,
                 reference: dict[str, Any]) -> dict[str, Comparison | str]:
    """Per task: the candidate vs `who`'s predictions (`reference`), or why there is no comparison."""
    out: dict[str, Comparison | str] = {}
    for task in cfg.target_tasks:
        ref = reference.get(task.name)
        if isinstance(ref, str):
            out[task.name] = ref
        elif ref is None:
            out[task.name] = f"the {who} does not predict this task"
        else:
            out[task.name] = scorer.compare(task, cand[task.name], who, ref)
    return out


@dataclass
class Measurement:
    facts: Facts
    candidate: dict[str, float]  # the candidate's primary metric per task on the current test rows
    test_rows: int


def measure(cfg: Config, paths: Paths, candidate: ModelVersion, champion: ModelVersion | None) -> Measurement:
    """The gate's facts for `candidate`, measured now on the current test rows.

    RegistryError when the candidate itself cannot be loaded or scored; a champion that cannot is a
    fact (`champion_unusable`), and the gate refuses on it.
    """
    from mtlops.metrics.delta_m import delta_m
    from mtlops.registry.store import load_pyfunc

    rows = test_rows(paths)
    who = f"candidate v{candidate.version}"
    cand = predictions(load_pyfunc(candidate), rows, cfg, who)
    missing = [t for t in cfg.target_names if t not in cand]
    if missing:
        raise RegistryError(f"{who} does not predict task(s) {missing}")
    scorer = Scorer(cfg, rows)
    try:
        scores = {t.name: scorer.metric("candidate", t, cand[t.name]).value for t in cfg.target_tasks}
    except ValueError as err:  # predictions of the wrong shape for the task
        raise RegistryError(f"{who}: {err}") from err
    references, single_task_models = single_task_predictions(cfg, paths, rows)
    single_task = _compare_all(scorer, cfg, cand, "single-task model", references)
    vs_champion: dict[str, Comparison | str] = {}
    unusable = None
    if champion is not None:
        try:
            champ = predictions(load_pyfunc(champion), rows, cfg, "it")
            vs_champion = _compare_all(scorer, cfg, cand, "champion", champ)
        except (RegistryError, ValueError) as err:
            unusable = str(err)
    compared = {t: c for t, c in single_task.items() if isinstance(c, Comparison)}
    dm = delta_m({t: c.candidate for t, c in compared.items()}, {t: c.reference for t, c in compared.items()},
                 {t.name: t.higher_is_better for t in cfg.target_tasks})
    facts = Facts(
        validation_passed=_validation(candidate),
        validation_skipped=_validation_skipped(candidate),
        delta_m_vs_stl=dm,
        single_task=single_task,
        single_task_models=single_task_models,
        champion=str(champion.version) if champion is not None else None,
        vs_champion=vs_champion,
        champion_unusable=unusable,
    )
    return Measurement(facts, scores, len(rows))


def _validation(candidate: ModelVersion) -> bool | None:
    return {"true": True, "false": False}.get(candidate.tags.get(f"{VALIDATION}success", ""))


def _validation_skipped(candidate: ModelVersion) -> bool:
    return candidate.tags.get(f"{VALIDATION}success", "").startswith("skipped")
