"""Experiment runs register a version but never move `champion`: how the promote stage knows it is in one.

DVC (3.x) sets `DVC_EXP_NAME` and `DVC_EXP_BASELINE_REV` in the environment of every stage command that
`dvc exp run` executes — in the workspace, with `--temp` and from the queue alike — and sets neither
under `dvc repro` (dvc.org/doc/user-guide/env; checked with DVC 3.67). `mtlops run --no-promote` passes
its own reason, `NO_PROMOTE`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

NO_PROMOTE = "mtlops run --no-promote"
DVC_EXP_NAME, DVC_EXP_BASELINE_REV = "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV"


def dvc_experiment(environ: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """`{"name", "baseline_rev"}` of the DVC experiment this process runs in, or None outside one."""
    env = os.environ if environ is None else environ
    name, baseline = env.get(DVC_EXP_NAME), env.get(DVC_EXP_BASELINE_REV)
    if not (name or baseline):
        return None
    return {"name": name or "unnamed", "baseline_rev": baseline or "unknown"}


def experiment_hold(environ: Mapping[str, str] | None = None) -> str | None:
    """Why `champion` must not move in this process (a DVC experiment), or None."""
    exp = dvc_experiment(environ)
    if exp is None:
        return None
    return f"dvc exp run (experiment {exp['name']!r}, baseline {exp['baseline_rev'][:12]})"
