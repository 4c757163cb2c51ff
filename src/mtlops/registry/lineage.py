"""How a registered model was made: code commit, data hashes, params hash, validation, search.

`collect(cfg, paths)` gathers these facts at registration (they become version tags); `lineage(ref)`
reads them back with the version's metrics and gate decisions; `format_lineage` prints them.

`lineage.git_commit` is the commit whose `git checkout <commit> && dvc repro` rebuilds the model;
`lineage.git_dirty` says whether the code or the params differed from it when the model was made:
files the pipeline writes (dvc.lock and every output dvc.yaml declares) are the run's results, not its
recipe, so they do not count; their content is recorded instead: the data hashes, and `lineage.dvc_lock`,
the sha256 of dvc.lock as registration saw it (the stages that made the model; the run keeps that copy
as its artifact `data/dvc.lock`).
In a DVC experiment the commit is the experiment's own, made when its last stage ends: the tag holds
its ref (`refs/exps/…/<name>`, a name git resolves like a commit), and `lineage` prints the commit.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config

# tag prefixes on a model version
LINEAGE, METRIC, DELTA_M = "lineage.", "metric.", "delta_m."
VALIDATION, SEARCH, GATE = "validation.", "search.", "gate."
# `validation.success` when validation.enabled was false: neither passed nor failed
SKIPPED = "skipped (validation.enabled: false)"
REASON = f"{GATE}reason."  # gate.reason.01, … : the last decision's reasons, one per tag


# ---------------------------------------------------------------------------------------------- collect
def git_state(root: Path) -> dict[str, str]:
    """The commit that rebuilds the model, and whether code or params differed from it (`git_dirty_paths`)."""
    from mtlops.experiment import current

    try:
        commit = _git(root, "rev-parse", "HEAD")
        porcelain = _git(root, "status", "--porcelain", "-z", "--untracked-files=all", "--", ".", strip=False)
        status = changed_paths(porcelain)
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "none (not a git repository)"}
    prefix = _git(root, "rev-parse", "--show-prefix")  # git prints paths from the repository's top
    outputs = pipeline_outputs(root)
    exp = current()
    changed = []
    for code, path in status:
        path = path.removeprefix(prefix)
        # an experiment's commit holds the workspace's changes to tracked files, not untracked ones
        if not any(path == o or path.startswith(f"{o}/") for o in outputs) and not (exp and code != "??"):
            changed.append(path)
    state = {"git_commit": exp.ref if exp else commit, "git_dirty": str(bool(changed)).lower()}
    if changed:
        state["git_dirty_paths"] = ", ".join(sorted(changed)[:20]) + (" …" if len(changed) > 20 else "")
    if exp:
        state |= {"dvc_experiment": exp.name, "git_baseline": exp.baseline}
    return state


def changed_paths(porcelain_z: str) -> list[tuple[str, str]]:
    """(status code, path) per entry of `git status --porcelain -z`: "XY PATH", NUL-ended, paths verbatim
    (no quoting, no trimming: the first line's leading space is part of its status code). A rename or copy
    is followed by its source path: a renamed file is gone from there, so that path changed too."""
    entries = porcelain_z.split("\0")
    out, i = [], 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        out.append((code, path))
        if "R" in code or "C" in code:
            if "R" in code and i < len(entries):
                out.append((code, entries[i]))
            i += 1
    return out


def pipeline_outputs(root: Path) -> set[str]:
    """dvc.lock and every output, metric and plot file dvc.yaml declares: what a pipeline run writes."""
    import yaml

    spec = root / "dvc.yaml"
    if not spec.is_file():
        return set()
    outputs = {"dvc.lock"}
    for stage in (yaml.safe_load(spec.read_text()) or {}).get("stages", {}).values():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind) or []:
                outputs.add(Path(next(iter(entry)) if isinstance(entry, dict) else entry).as_posix())
    return outputs


def _git(root: Path, *args: str, strip: bool = True) -> str:
    out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip() if strip else out.stdout


def sha256_path(path: Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, in sorted order)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def dvc_hashes(paths: Paths) -> dict[str, str]:
    """`{out path: md5}` of every stage output recorded in dvc.lock (empty when there is none)."""
    import yaml

    lock = paths.root / "dvc.lock"
    if not lock.is_file():
        return {}
    data = yaml.safe_load(lock.read_text()) or {}
    out = {}
    for stage in (data.get("stages") or {}).values():
        for entry in stage.get("outs") or []:
            if "path" in entry and entry.get("md5"):
                out[Path(entry["path"]).as_posix()] = str(entry["md5"])
    return out


def data_hashes(paths: Paths) -> dict[str, str]:
    """Hashes of the raw and processed data: DVC's md5 from dvc.lock, else sha256 of the files."""
    locked = dvc_hashes(paths)
    dirs = {"data_raw": paths.raw_dir, "data_processed": paths.processed_dir}
    rel = {key: d.relative_to(paths.root).as_posix() for key, d in dirs.items()}
    if all(rel[key] in locked for key in dirs):
        return {**{key: locked[rel[key]] for key in dirs}, "data_hash": "dvc md5 (dvc.lock)"}
    out = {key: sha256_path(d) if d.exists() else "missing" for key, d in dirs.items()}
    return {**out, "data_hash": "sha256 of the files (no dvc.lock entry)"}


def collect(cfg: Config, paths: Paths) -> dict[str, str]:
    """Lineage, validation and search facts for the current pipeline outputs, as version tags."""
    from mtlops import __version__
    from mtlops.io import read_json

    tags = {f"{LINEAGE}{k}": v for k, v in git_state(paths.root).items()}
    tags.update({f"{LINEAGE}{k}": v for k, v in data_hashes(paths).items()})
    lock = paths.root / "dvc.lock"
    tags[f"{LINEAGE}dvc_lock"] = sha256_path(lock) if lock.is_file() else "none (not run through DVC)"
    tags[f"{LINEAGE}params_hash"] = cfg.section_hash()
    tags[f"{LINEAGE}mtlops_version"] = __version__

    if paths.validation_summary.is_file():
        summary = read_json(paths.validation_summary)
        skipped = summary.get("status") == "skipped" or summary.get("enabled") is False
        tags[f"{VALIDATION}success"] = SKIPPED if skipped else str(bool(summary.get("success"))).lower()
    else:
        tags[f"{VALIDATION}success"] = "unknown (no reports/validation/summary.json)"

    search = read_json(paths.search_summary) if paths.search_summary.is_file() else {}
    if search.get("enabled") and search.get("study"):
        tags[f"{SEARCH}study"] = str(search["study"])
        tags[f"{SEARCH}best_trial"] = str(search.get("best_trial"))
        tags[f"{SEARCH}best_delta_m"] = str(search.get("best_delta_m"))
        tags[f"{SEARCH}best_params"] = json.dumps(search.get("best_params"), sort_keys=True)
        if search.get("mlflow_run_id"):
            tags[f"{SEARCH}mlflow_run_id"] = str(search["mlflow_run_id"])
    else:
        tags[f"{SEARCH}study"] = "none (search disabled or not run)"
    return tags


# ------------------------------------------------------------------------------------------------- read
def lineage(model_ref: str, paths: Paths | None = None) -> dict[str, Any]:
    """Everything the registry knows about how one model version was made."""
    from mtlops.paths import Paths
    from mtlops.registry.store import ModelRef, connect, get_version

    client = connect(paths)
    ref = ModelRef.parse(model_ref)
    version = get_version(client, ref)
    model = client.get_registered_model(version.name)
    aliases = sorted(a for a, v in model.aliases.items() if str(v) == str(version.version))
    tags = dict(version.tags)

    def section(prefix: str) -> dict[str, str]:
        return {k.removeprefix(prefix): v for k, v in sorted(tags.items()) if k.startswith(prefix)}

    run: dict[str, Any] = {"id": version.run_id}
    if version.run_id:
        r = client.get_run(version.run_id)
        run.update(
            experiment_id=r.info.experiment_id, name=r.info.run_name, status=r.info.status,
            started=_iso(r.info.start_time), params=len(r.data.params),
        )
    made_from = section(LINEAGE)
    if made_from.get("git_commit", "").startswith("refs/exps/"):
        made_from["git_commit"] += f" ({_experiment_commit((paths or Paths.at('.')).root, made_from['git_commit'])})"
    return {
        "model": version.name,
        "version": str(version.version),
        "aliases": aliases,
        "created": _iso(version.creation_timestamp),
        "source": version.source,
        "run": run,
        "lineage": made_from,
        "validation": section(VALIDATION),
        "search": section(SEARCH),
        "metrics": section(METRIC),
        "delta_m": section(DELTA_M),
        "gate": _gate(tags),
    }


def _gate(tags: dict[str, str]) -> dict[str, Any]:
    """The last gate decision's tags, its reasons as one list (`gate.reason.NN` in order, or an older
    version's JSON `gate.reasons`)."""
    facts: dict[str, Any] = {k.removeprefix(GATE): v for k, v in sorted(tags.items())
                             if k.startswith(GATE) and not k.startswith(REASON) and k != f"{GATE}reasons"}
    reasons = reasons_from_tags(tags)
    if reasons:
        facts["reasons"] = reasons
    return facts


def reasons_from_tags(tags: dict[str, str]) -> list[str]:
    """The reasons of a version's last gate decision: `gate.reason.NN` in order (or the JSON list an older
    version holds in `gate.reasons`)."""
    numbered = sorted((k for k in tags if k.startswith(REASON) and k[len(REASON):].isdigit()),
                      key=lambda k: int(k[len(REASON):]))  # fmt: skip
    if numbered:
        return [tags[k] for k in numbered]
    old = tags.get(f"{GATE}reasons")
    if not old:
        return []
    try:
        listed = json.loads(old)
    except json.JSONDecodeError:
        return [old]
    return [str(r) for r in listed] if isinstance(listed, list) else [old]


def _experiment_commit(root: Path, ref: str) -> str:
    """The commit a DVC experiment's ref names, as git here knows it."""
    try:
        return f"commit {_git(root, 'rev-parse', '--verify', '--quiet', ref)}"
    except (OSError, subprocess.SubprocessError):
        return "no such ref here: the experiment failed, was removed, or lives in another clone (`dvc exp pull`)"


def _iso(ms: int | None) -> str | None:
    from datetime import datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds") if ms else None


def format_lineage(d: dict[str, Any]) -> str:
    """A readable page: identity, then each section's facts, one per line."""
    aliases = ", ".join(d["aliases"]) or "none"
    run = d["run"]
    lines = [
        f"{d['model']} version {d['version']}  (aliases: {aliases}; registered {d['created']})",
        f"  source: {d['source']}",
        f"  run:    {run.get('id')}" + (f"  ({run.get('name')}, {run.get('status')}, {run.get('params')} params)"
                                        if run.get("name") else ""),
    ]
    titles = {
        "lineage": "made from",
        "validation": "data validation",
        "search": "hyper-parameter search",
        "metrics": "test metrics (at registration)",
        "delta_m": "Δm (%)",
        "gate": "promotion gate",
    }
    for key, title in titles.items():
        facts = d.get(key) or {}
        if not facts:
            continue
        lines.append(f"{title}:")
        width = max(len(k) for k in facts)
        for k, v in facts.items():
            if key == "gate" and k == "reasons":
                lines.append(f"  {k}:")
                lines.extend(f"    - {r}" for r in v)
            else:
                lines.append(f"  {k.ljust(width)}  {_show(v)}")
    return "\n".join(lines)


def _show(value: str) -> str:
    """Tags keep full precision; the page shows 6 significant digits."""
    if "." not in value:  # integers, hashes (which may look like "12e4"), words
        return value
    try:
        return f"{float(value):.6g}"
    except ValueError:
        return value

