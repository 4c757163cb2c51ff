"""Rollback: `champion` goes back to the version it replaced, recorded — who, when, why — on that version.

The previous champion is the version whose tenure the current champion ended (`gate.replaced_by` =
the champion's number, the newest `gate.champion_until` among them; promote writes both). The move is
`promote --version <previous> --force --reason "rollback: …"` (so the gate's facts on today's test rows
are measured, recorded and shown, as for any promotion, and a version that cannot be loaded or scored is
refused before anything moves), and then `rollback.*` tags on the version taken back: `from` (the
champion it replaces), `by`, `at`, `reason`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtlops.registry.lineage import GATE
from mtlops.registry.store import CHAMPION, RegistryError

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from mlflow import MlflowClient
    from mtlops.paths import Paths
    from mtlops.schema import Config

ROLLBACK = "rollback."


def previous_champion(client: MlflowClient, name: str, champion: str) -> ModelVersion:
    """The version `champion` replaced; RegistryError when there is none."""
    replaced = [v for v in client.search_model_versions(f"name = '{name}'")
                if v.tags.get(f"{GATE}replaced_by") == champion and v.tags.get(f"{GATE}champion_until")]
    if not replaced:
        raise RegistryError(f"model {name!r}: champion v{champion} replaced no earlier champion; nothing to roll back "
                            f"to (to choose a version: mtlops promote --version N --force --reason \"...\")")
    return max(replaced, key=lambda v: (v.tags[f"{GATE}champion_until"], int(v.version)))


def rollback(cfg: Config, paths: Paths, reason: str) -> dict[str, Any]:
    """Move `champion` back to the previous champion; returns promote's record plus the rollback's."""
    from mtlops.errors import UserError
    from mtlops.registry.model_card import log_card
    from mtlops.registry.promote import promote
    from mtlops.registry.store import connect, find_alias

    if not (reason and reason.strip()):
        raise UserError("rollback: give a --reason (it is recorded on the version)")
    client = connect(paths)
    name = cfg.project.model_name
    current = find_alias(client, name, CHAMPION)
    if current is None:
        raise RegistryError(f"model {name!r} has no champion to roll back")
    target = previous_champion(client, name, str(current.version))
    why = f"rollback from v{current.version}: {reason.strip()}"
    result = promote(cfg, paths, version=str(target.version), force=True, reason=why)
    record = {"from": str(current.version), "by": result["override"]["by"], "at": result["decided_at"],
              "reason": reason.strip()}
    for key, value in record.items():
        client.set_model_version_tag(name, target.version, f"{ROLLBACK}{key}", value)
    log_card(client, client.get_model_version(name, target.version))  # the card tells the rollback too
    result["rollback"] = record
    return result
