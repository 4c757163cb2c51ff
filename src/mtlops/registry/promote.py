"""Promote: judge a candidate version and move `champion` only on positive evidence.

The candidate is `--version` when given, else the version this pipeline registered
(`reports/registration.json`, the stage's DVC dependency), else the `challenger` alias. It, the champion
and each task's single-task model are scored now, on the same current test rows
(`mtlops.registry.measure`); the pure decision lives in `mtlops.registry.gate`; this module records
the decision and moves the aliases.

Outcomes (`decision` in reports/promotion.json and the version's `gate.decision` tag):
- `promoted` / `refused`: the gate's verdict; a refusal for lack of evidence (fail closed) also raises
  `PromotionRefused` after recording, so the command exits non-zero with the reason;
- `forced`: a person's override (`force=True` with a `reason`, both recorded, with who forced it);
- `held`: an experiment run (`hold`: a DVC experiment, `mtlops run --no-promote`) — judged and
  recorded, `champion` never moves;
- `unchanged`: the candidate already is the champion (a rerun).
A candidate that cannot be loaded or scored raises a RegistryError before anything is recorded.

Aliases: `challenger` names the last version that did not become champion — the one just registered,
refused or held; when a version becomes champion, `challenger` moves back to the newest version whose
last decision was `refused` or `held`, or goes when there is none. Tags stay true after a rollback:
`gate.*` is the last decision made on that version (its reasons `gate.reason.01`, … one per tag), and its
tenure as champion is `gate.champion_from`,
then `gate.champion_until` + `gate.replaced_by` once another version takes the alias.
"""

from __future__ import annotations

import getpass
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mtlops.errors import UserError
from mtlops.metrics.compare import Comparison
from mtlops.registry import version_page
from mtlops.registry.gate import FAIL_CLOSED, NOTE, gate
from mtlops.registry.lineage import GATE
from mtlops.registry.measure import Measurement, measure
from mtlops.registry.store import CHALLENGER, CHAMPION, ModelRef, connect, find_alias, get_version

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from mlflow import MlflowClient
    from mtlops.paths import Paths
    from mtlops.schema import Config

log = logging.getLogger(__name__)

PROMOTED, REFUSED, FORCED, HELD, UNCHANGED = "promoted", "refused", "forced", "held", "unchanged"


class PromotionRefused(UserError):
    """The gate refused for lack of evidence (fail closed): champion unchanged, a person must look."""


# ------------------------------------------------------------------------------------------- the stage
def candidate_version(client: MlflowClient, cfg: Config, paths: Paths, version: int | str | None) -> ModelVersion:
    """`version`, else the version in reports/registration.json, else the `challenger` alias."""
    from mtlops.io import read_json

    name = cfg.project.model_name
    if version is None and paths.registration.is_file():
        registration = read_json(paths.registration, what="registration")
        if registration.get("model_name") == name and registration.get("version"):
            version = registration["version"]
    ref = ModelRef(name, version=str(version)) if version is not None else ModelRef(name, alias=CHALLENGER)
    return get_version(client, ref)


def promote(
    cfg: Config, paths: Paths, version: int | str | None = None, force: bool = False, reason: str | None = None,
    hold: str | None = None,
) -> dict[str, Any]:
    """Gate the candidate against its single-task models and the champion; move `champion` if it passes.

    `force` (needs a `reason`) promotes whatever the gate says; `hold` (why: an experiment run) never
    moves `champion`. Returns (and writes to reports/promotion.json) the decision with every reason.
    """
    from mtlops.io import write_json
    from mtlops.metrics.per_task import json_safe
    from mtlops.registry.model_card import log_card

    if force and not (reason and reason.strip()):
        raise UserError("promote: force needs a reason (it is recorded on the version)")
    client = connect(paths)
    name = cfg.project.model_name
    candidate = candidate_version(client, cfg, paths, version)
    champion = find_alias(client, name, CHAMPION)
    cand_v = str(candidate.version)
    champ_v = str(champion.version) if champion is not None else None
    result: dict[str, Any] = {
        "model_name": name,
        "version": cand_v,
        "champion_before": champ_v,
        "decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if champ_v == cand_v:
        result.update(decision=UNCHANGED, promoted=False, forced=False, champion=champ_v,
                      reasons=[f"{NOTE}: version {cand_v} is already the champion; nothing to do"])
        result["challenger"] = _settle_challenger(client, name, cand_v, promoted=True)
        write_json(paths.promotion, result)
        return result

    measured = measure(cfg, paths, candidate, champion)
    facts = measured.facts
    decision = gate(facts, cfg)
    reasons = [
        f"{NOTE}: measured on {measured.test_rows} current test rows; intervals: {100 * cfg.promotion.confidence:g}% "
        f"paired percentile bootstrap of the relative change, {cfg.promotion.bootstrap} resamples",
        *decision.reasons,
    ]
    override = None
    if hold:
        reasons.append(f"{NOTE}: experiment run ({hold}): champion not moved; to judge this version for "
                       f"champion: mtlops promote --version {cand_v}")
    elif force:
        assert reason is not None, "checked above: force needs a reason"
        override = {"reason": reason.strip(), "by": _who()}
        passed = " (the gate passed anyway)" if decision.promote else ""
        reasons.append(f"override: forced by {override['by']}{passed}: {override['reason']}")
    promoted = (decision.promote or force) and not hold
    label = HELD if hold else FORCED if force else PROMOTED if decision.promote else REFUSED
    result.update(
        decision=label,
        promoted=promoted,
        forced=bool(force and not hold),
        gate_passed=decision.promote,
        reasons=reasons,
        missing_evidence=decision.missing_evidence,
        override=override,
        held=hold,
        delta_m_vs_stl=facts.delta_m_vs_stl,
        validation="skipped" if facts.validation_skipped else facts.validation_passed,
        test_rows=measured.test_rows,
        metrics=_metrics(measured),
        comparisons={"single_task": _comparisons(facts.single_task), "champion": _comparisons(facts.vs_champion)},
        champion=cand_v if promoted else champ_v,
    )
    if promoted:  # the alias first: a failure before the tags can leave no "promoted" tag on a non-champion
        client.set_registered_model_alias(name, CHAMPION, cand_v)
    _record(client, candidate, result)
    if promoted:
        _record_tenure(client, candidate, champion, result["decided_at"])
    for judged in [cand_v, *([champ_v] if promoted and champ_v else [])]:  # the pages show the new state
        version_page.refresh_gate(client, name, judged)
    result["challenger"] = _settle_challenger(client, name, cand_v, promoted)
    log_card(client, client.get_model_version(name, cand_v))  # the card shows this decision
    write_json(paths.promotion, json_safe(result))
    for line in [f"promotion of {name} v{cand_v}: {label}", *reasons]:
        log.info(line)
    if decision.missing_evidence and label == REFUSED:
        raise PromotionRefused(_refusal(name, cand_v, champ_v, result, paths))
    return result


def _refusal(name: str, version: str, champion: str | None, result: dict[str, Any], paths: Paths) -> str:
    first = result["missing_evidence"][0].removeprefix("FAIL: ").removesuffix(f"; {FAIL_CLOSED}")
    kept = f"champion stays v{champion}" if champion else "no champion"
    lines = [f"promotion of {name} v{version} refused (fail closed): {first}; {kept}"]
    lines += [f"  - {r}" for r in result["reasons"]]
    lines.append(f"decision: {paths.promotion}; a person may override: mtlops promote --version {version} "
                 "--force --reason \"...\"")
    return "\n".join(lines)


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment (some containers)
        return "unknown user"


def _metrics(measured: Measurement) -> dict[str, dict[str, float] | None]:
    """Primary metric per task of the candidate, the champion (None: none scored) and the single-task models."""
    def references(comparisons):
        return {t: c.reference for t, c in comparisons.items() if isinstance(c, Comparison)}

    facts = measured.facts
    champion = references(facts.vs_champion) if facts.champion and not facts.champion_unusable else None
    return {"candidate": measured.candidate, "champion": champion, "single_task": references(facts.single_task)}


def _comparisons(comparisons) -> dict[str, Any]:
    """JSON-safe per-task comparisons: numbers with the interval, or why there is none."""
    from mtlops.metrics.per_task import json_safe

    out = {}
    for task, c in comparisons.items():
        out[task] = c if isinstance(c, str) else json_safe(
            {"candidate": c.candidate, "reference": c.reference, **{f"change_{k}": v for k, v in
                                                                    vars(c.change).items()}})
    return out


def _record(client: MlflowClient, candidate: ModelVersion, result: dict[str, Any]) -> None:
    """The decision as `gate.*` tags on the candidate (its last gate decision), its reasons one per tag."""
    tags = {
        "decision": result["decision"],
        "passed": str(result["gate_passed"]).lower(),
        "decided_at": result["decided_at"],
        "champion_before": str(result["champion_before"]),
        "delta_m_vs_stl": repr(result["delta_m_vs_stl"]),
        "test_rows": str(result["test_rows"]),
        **{f"metric.{task}": repr(value) for task, value in result["metrics"]["candidate"].items()},
    }
    if result["override"]:
        tags["forced_reason"], tags["forced_by"] = result["override"]["reason"], result["override"]["by"]
    for stale in ("forced_reason", "forced_by"):  # an earlier override no longer explains this decision
        if stale not in tags and f"{GATE}{stale}" in candidate.tags:
            client.delete_model_version_tag(candidate.name, candidate.version, f"{GATE}{stale}")
    for key, value in tags.items():
        client.set_model_version_tag(candidate.name, candidate.version, f"{GATE}{key}", value)
    version_page.record_reasons(client, candidate, result["reasons"])


def _record_tenure(client: MlflowClient, new: ModelVersion, old: ModelVersion | None, when: str) -> None:
    """Who holds `champion` since when: the new champion's tenure opens, the replaced one's closes."""
    client.set_model_version_tag(new.name, new.version, f"{GATE}champion_from", when)
    for key in ("champion_until", "replaced_by"):  # a rolled-back version is champion again
        if f"{GATE}{key}" in new.tags:
            client.delete_model_version_tag(new.name, new.version, f"{GATE}{key}")
    if old is not None:
        client.set_model_version_tag(old.name, old.version, f"{GATE}champion_until", when)
        client.set_model_version_tag(old.name, old.version, f"{GATE}replaced_by", str(new.version))


def _settle_challenger(client: MlflowClient, name: str, version: str, promoted: bool) -> str | None:
    """Point `challenger` at the last version that did not become champion; returns it (None: no alias).

    Not promoted: the candidate itself. Promoted: the newest other version whose last decision was
    `refused` or `held`, and no alias when there is none.
    """
    if not promoted:
        client.set_registered_model_alias(name, CHALLENGER, version)
        return version
    losers = [int(v.version) for v in client.search_model_versions(f"name = '{name}'")
              if v.tags.get(f"{GATE}decision") in (REFUSED, HELD) and str(v.version) != version]
    if losers:
        client.set_registered_model_alias(name, CHALLENGER, str(max(losers)))
        return str(max(losers))
    if find_alias(client, name, CHALLENGER) is not None:
        client.delete_registered_model_alias(name, CHALLENGER)
    return None
