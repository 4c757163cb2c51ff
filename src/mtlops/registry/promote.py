"""Promote: judge a candidate version (the `challenger`, or any version for a rollback) and move `champion`.

Candidate and champion are both re-scored now, by loading their registered pyfuncs and predicting on
the same, current test rows (`data/processed/test_raw.parquet`): the champion's stored metrics came
from older data. The pure decision lives in `mtlops.registry.gate`; this module is the MLflow glue.
Every reason is written to the candidate version's tags and to reports/promotion.json.

`force=True` (a human override) needs a `reason`, which is recorded; a missing or unloadable
candidate raises a RegistryError before any alias moves.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mtlops.errors import DataError, UserError
from mtlops.registry.gate import NOTE, gate
from mtlops.registry.lineage import DELTA_M, GATE, VALIDATION
from mtlops.registry.store import CHALLENGER, CHAMPION, ModelRef, RegistryError, connect, find_alias, get_version

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities.model_registry import ModelVersion

    from mlflow import MlflowClient
    from mtlops.paths import Paths
    from mtlops.schema import Config

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------- scoring
def test_rows(paths: Paths) -> pd.DataFrame:
    import pandas as pd

    if not paths.test_raw.is_file():
        raise DataError(f"{paths.test_raw}: current test rows not found; run `mtlops prepare` first")
    return pd.read_parquet(paths.test_raw)


def score(model: Any, rows: pd.DataFrame, cfg: Config, who: str) -> dict[str, float]:
    """Primary metric per task of a loaded pyfunc on raw test rows (labels read from the same rows).

    Tasks the model does not predict are left out. RegistryError (naming `who`) when the model
    cannot score these rows: a column it needs is missing, its output is unusable.
    """
    from mlflow.exceptions import MlflowException

    from mtlops.data.prepare import task_meta
    from mtlops.data.contract import encode_labels
    from mtlops.evaluation.metrics import primary
    from mtlops.registry.pyfunc import conform, task_predictions

    schema = model.metadata.get_input_schema()
    features = schema.input_names() if schema is not None else cfg.features.all_columns()
    missing = [c for c in features if c not in rows.columns]
    if missing:
        raise RegistryError(f"{who} needs column(s) {missing} that the current test data lacks")
    try:
        preds = task_predictions(model.predict(conform(rows[features], schema)), _task_dicts(cfg, task_meta))
    except MlflowException as err:
        raise RegistryError(f"{who} cannot score the current test data: {err.message.splitlines()[-1]}") from err
    out = {}
    for task in cfg.tasks:
        if task.name in preds:
            y, mask = encode_labels(rows, task)
            try:
                out[task.name] = primary(task, y, preds[task.name], mask)
            except ValueError as err:
                raise RegistryError(f"{who}: {err}") from err
    return out


def _task_dicts(cfg: Config, task_meta) -> list[dict[str, Any]]:
    return [{"name": t.name, **task_meta(t)} for t in cfg.tasks]


def stl_delta_m(
    cfg: Config, paths: Paths, scores: dict[str, float], candidate: ModelVersion
) -> tuple[float | None, str]:
    """Δm of the candidate's current scores against the single-task baselines of reports/metrics.json.

    Without baselines there, the Δm recorded at the candidate's registration (its own test data).
    """
    from mtlops.evaluation.delta_m import delta_m
    from mtlops.io import read_json

    metrics = read_json(paths.metrics) if paths.metrics.is_file() else {}
    stl = {}
    for task, entry in (metrics.get("tasks") or {}).items():
        value = (entry.get("stl") or {}).get(entry.get("metric"))
        if isinstance(value, (int, float)):
            stl[task] = float(value)
    if stl:
        higher = {t.name: t.higher_is_better for t in cfg.tasks}
        dm = delta_m({t: v for t, v in scores.items() if t in higher}, stl, higher)
        return dm, f"{NOTE}: Δm vs single-task computed on the current test data (baselines from {paths.metrics.name})"
    tag = candidate.tags.get(f"{DELTA_M}vs_stl")
    if tag is not None:
        return float(tag), f"{NOTE}: Δm vs single-task taken from the version's registration (its own test data)"
    return None, f"{NOTE}: no single-task baseline metrics in {paths.metrics}"


def _validation(candidate: ModelVersion) -> bool | None:
    return {"true": True, "false": False}.get(candidate.tags.get(f"{VALIDATION}success", ""))


# ------------------------------------------------------------------------------------------- the stage
def promote(
    cfg: Config, paths: Paths, version: int | str | None = None, force: bool = False, reason: str | None = None
) -> dict[str, Any]:
    """Gate the challenger (or `version`) against the champion and baselines; move `champion` if it passes.

    Returns (and writes to reports/promotion.json) the decision — `promoted`, `refused`, `forced` or
    `unchanged` — with every reason.
    """
    from mtlops.io import write_json
    from mtlops.registry.store import load_pyfunc

    if force and not (reason and reason.strip()):
        raise UserError("promote: force needs a reason (it is recorded on the version)")
    client = connect(paths)
    name = cfg.project.model_name
    ref = ModelRef(name, version=str(version)) if version is not None else ModelRef(name, alias=CHALLENGER)
    candidate = get_version(client, ref)
    champion = find_alias(client, name, CHAMPION)
    cand_v = str(candidate.version)
    champ_v = str(champion.version) if champion is not None else None
    result: dict[str, Any] = {
        "model_name": name,
        "version": cand_v,
        "champion_before": champ_v,
        "decided_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if champ_v == cand_v:
        result.update(decision="unchanged", promoted=False, forced=False, champion=champ_v,
                      reasons=[f"{NOTE}: version {cand_v} is already the champion"])
        write_json(paths.promotion, result)
        return result

    rows = test_rows(paths)
    cand_scores = score(load_pyfunc(candidate), rows, cfg, f"candidate v{cand_v}")
    reasons: list[str] = []
    champ_scores = None
    if champion is not None:
        try:
            champ_scores = score(load_pyfunc(champion), rows, cfg, f"champion v{champ_v}")
        except RegistryError as err:
            reasons.append(f"{NOTE}: {err}; not compared with it")
    dm, dm_note = stl_delta_m(cfg, paths, cand_scores, candidate)
    decision = gate(cand_scores, champ_scores, dm, _validation(candidate), cfg)
    reasons += [dm_note, *decision.reasons]
    if force:
        reasons.append(f"override: forced by a person{' (the gate passed anyway)' if decision.promote else ''}: "
                       f"{reason.strip()}")
    promoted = decision.promote or force
    label = "forced" if force else ("promoted" if decision.promote else "refused")
    result.update(
        decision=label,
        promoted=promoted,
        forced=force,
        gate_passed=decision.promote,
        reasons=reasons,
        delta_m_vs_stl=dm,
        validation=_validation(candidate),
        test_rows=len(rows),
        metrics={"candidate": cand_scores, "champion": champ_scores},
        champion=cand_v if promoted else champ_v,
    )
    _record(client, candidate, champion, result, reason if force else None)
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, cand_v)
        challenger = find_alias(client, name, CHALLENGER)
        if challenger is not None and str(challenger.version) == cand_v:
            client.delete_registered_model_alias(name, CHALLENGER)
    write_json(paths.promotion, result)
    for line in [f"promotion of {name} v{cand_v}: {label}", *reasons]:
        log.info(line)
    return result


def _record(
    client: MlflowClient, candidate: ModelVersion, champion: ModelVersion | None, result: dict[str, Any],
    force_reason: str | None,
) -> None:
    """The decision and its reasons as tags on the candidate (and a pointer on a replaced champion)."""
    tags = {
        "decision": result["decision"],
        "passed": str(result["gate_passed"]).lower(),
        "reasons": json.dumps(result["reasons"], ensure_ascii=False),
        "decided_at": result["decided_at"],
        "champion_before": str(result["champion_before"]),
        "delta_m_vs_stl": repr(result["delta_m_vs_stl"]),
        "test_rows": str(result["test_rows"]),
        **{f"metric.{task}": repr(value) for task, value in result["metrics"]["candidate"].items()},
    }
    if force_reason is not None:
        tags["forced_reason"] = force_reason.strip()
    elif f"{GATE}forced_reason" in candidate.tags:  # an earlier override no longer explains this decision
        client.delete_model_version_tag(candidate.name, candidate.version, f"{GATE}forced_reason")
    for key, value in tags.items():
        client.set_model_version_tag(candidate.name, candidate.version, f"{GATE}{key}", value)
    if result["promoted"] and champion is not None:
        client.set_model_version_tag(champion.name, champion.version, f"{GATE}replaced_by", result["version"])
