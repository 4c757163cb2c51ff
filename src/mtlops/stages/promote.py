"""promote: gate the candidate against its single-task models and the champion; move `champion` if it passes.

Reads `reports/registration.json` (the version to judge), `reports/baselines.json` + the single-task
models, `data/processed/test.npz` + `test_raw.parquet` (the current test rows) and the registry; writes
the alias moves, the decision and its reasons as version tags, and `reports/promotion.json`. Inside
`dvc exp run` (or with `hold`) the decision is recorded but `champion` never moves. The work:
`mtlops.registry.promote` (the pure decision: `mtlops.registry.gate`). A refusal sends one message with
the gate's reasons through params' `notify` (`mtlops.notify`; off by default).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtlops.experiment import hold_reason
from mtlops.notify import REFUSED, Message, send
from mtlops.registry.promote import PromotionRefused, promote

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def run(
    cfg: Config, paths: Paths, version: int | str | None = None, force: bool = False, reason: str | None = None,
    hold: str | None = None,
) -> dict[str, Any]:
    """The decision, its reasons and the champion after it; `force` skips the gate and needs a `reason`;
    `hold` (why champion must not move) defaults to the DVC experiment this process runs in, if any."""
    try:
        result = promote(cfg, paths, version=version, force=force, reason=reason, hold=hold or hold_reason())
    except PromotionRefused:
        from mtlops.io import read_json

        notify_refusal(cfg, read_json(paths.promotion, "promotion decision"))
        raise
    if result.get("decision") == REFUSED:
        notify_refusal(cfg, result)
    return result


def notify_refusal(cfg: Config, result: dict[str, Any]) -> dict[str, str]:
    """One message: which version was refused, the champion it leaves, and every reason of the gate."""
    kept = f"champion stays v{result['champion']}" if result.get("champion") else "no champion"
    subject = f"{result['model_name']} v{result['version']}: promotion refused ({kept})"
    override = f"override: mtlops promote --version {result['version']} --force --reason \"...\""
    lines = [*result.get("reasons", []), override]
    facts = {k: result.get(k) for k in ("model_name", "version", "decision", "champion", "decided_at",
                                        "missing_evidence")}
    return send(cfg, Message(REFUSED, subject, lines, facts))
