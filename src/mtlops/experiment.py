"""A DVC experiment as its stages see it: whether one is running, which, and which params it changed.

DVC (3.x) sets DVC_EXP_NAME, DVC_EXP_BASELINE_REV and DVC_ROOT in the environment of every stage
command `dvc exp run` executes (in the workspace, with `--temp` and from the queue alike) and sets
neither of the first two under `dvc repro` (dvc.org/doc/user-guide/env; checked with DVC 3.67). The
experiment's own commit is made only after its last stage, under the ref
`refs/exps/<baseline[:2]>/<baseline[2:]>/<name>`: lineage records that ref, and reads it back as a commit.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mtlops.errors import UserError

NAME_ENV, BASELINE_ENV, ROOT_ENV = "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV", "DVC_ROOT"
NO_PROMOTE = "mtlops run --no-promote"  # the other reason champion must not move (`hold_reason`'s peer)


@dataclass(frozen=True)
class Experiment:
    name: str
    baseline: str  # the commit the experiment started from
    root: str | None = None  # DVC_ROOT: the repository `dvc exp run` was started in

    @property
    def ref(self) -> str:
        """The git ref DVC commits the experiment under when it finishes."""
        return f"refs/exps/{self.baseline[:2]}/{self.baseline[2:]}/{self.name}"


def current(
    environ: Mapping[str, str] | None = None, needs: Literal["both", "either", "name"] = "both",
) -> Experiment | None:
    """The DVC experiment this process runs in, or None (a plain `dvc repro`, the flow, a command).

    `needs` is which of DVC's variables make one; each caller keeps the rule it had before the three
    checks met here (under DVC all are set together, so they differ only in a hand-made environment):
    - "both": DVC_EXP_NAME and DVC_EXP_BASELINE_REV, as lineage and tracking build the ref from them;
    - "either": one of the two, the other read as "unnamed"/"unknown" (the promote hold: a half-set
      environment still keeps champion where it is);
    - "name": DVC_EXP_NAME (`Paths.for_params`, which then takes the store from `root`).
    """
    env = os.environ if environ is None else environ
    name, baseline, root = env.get(NAME_ENV), env.get(BASELINE_ENV), env.get(ROOT_ENV)
    found = {"both": bool(name and baseline), "either": bool(name or baseline), "name": bool(name)}[needs]
    return Experiment(name or "unnamed", baseline or "unknown", root or None) if found else None


def hold_reason(environ: Mapping[str, str] | None = None) -> str | None:
    """Why `champion` must not move in this process (a DVC experiment registers a version but never
    promotes it), or None."""
    exp = current(environ, needs="either")
    if exp is None:
        return None
    return f"dvc exp run (experiment {exp.name!r}, baseline {exp.baseline[:12]})"


def changed_keys(params_file: Path) -> set[str]:
    """Dotted keys whose value in `params_file` differs from the experiment's baseline commit (`-S` and
    workspace edits); empty outside an experiment or when the baseline has no such file."""
    import yaml

    exp = current()
    if exp is None:
        return set()
    params_file = Path(params_file)
    proc = subprocess.run(
        ["git", "-C", str(params_file.parent), "show", f"{exp.baseline}:./{params_file.name}"],
        check=False, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if proc.returncode != 0:
        return set()
    return _differences(yaml.safe_load(proc.stdout) or {}, yaml.safe_load(params_file.read_text()) or {})


def _differences(old: Any, new: Any, prefix: str = "") -> set[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: set[str] = set()
        for key in old.keys() | new.keys():
            out |= _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return set() if old == new else {prefix.removesuffix(".")}


def refuse_hidden_overrides(params_file: Path, overlay: dict[str, Any]) -> None:
    """Refuse to let the search's overlay (`overlay`: {section: keys} it may set) silently replace a key this
    experiment set.

    `dvc exp run -S train.lr=0.001` on a config whose search chooses `train.lr` would train with the
    search's learning rate while `dvc exp show` lists 0.001. The user decides instead: keep the value
    (`search.fixed`) or train the configured model (`train.use_search: false`).
    """
    overlaid = [f"{section}.{key}" for section, keys in overlay.items() for key in keys]
    clash = sorted(c for c in changed_keys(params_file) if any(c == k or c.startswith(f"{k}.") for k in overlaid))
    if clash:
        keys = sorted({k for k in overlaid for c in clash if c == k or c.startswith(f"{k}.")})
        exp = current()
        assert exp is not None, "changed_keys() is empty outside an experiment"
        raise UserError(
            f"experiment {exp.name!r} sets {', '.join(clash)}, which the search chooses "
            f"(train.use_search: true); keep it: -S '++search.fixed=[{', '.join(keys)}]', or train the configured "
            "model: -S train.use_search=false"
        )
