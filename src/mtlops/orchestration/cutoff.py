"""New data arrives: a cut-off date moves the source's keys in params.yaml, so DVC sees the change.

Which keys, and what 'auto' means, is the source's business: its `arrival` hook
(see `mtlops.data.sources.base`). Comments in params.yaml are kept; each write is validated and atomic.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlops.errors import UserError

if TYPE_CHECKING:
    from mtlops.schema import Config


def cutoff_keys(cfg: Config, params_file: str | Path, cutoff: str, today: date | None = None) -> dict[str, Any]:
    """The params keys the source's `arrival` hook gives for `cutoff` (nothing written); `today` defaults to UTC's."""
    from mtlops.data.sources import source_of

    keys = source_of(cfg).arrival(cfg, cutoff, today or datetime.now(UTC).date())
    if keys is None:
        raise UserError(f"{params_file}: data.source {cfg.data.source!r} takes no cut-off (the source has no "
                        "`arrival` hook to say how new data arrives); run without --cutoff")
    return keys


def apply_cutoff(params_file: str | Path, cutoff: str, today: date | None = None) -> dict[str, Any]:
    """Write the keys for `cutoff` into the params file; returns them."""
    from mtlops.checks import check_config, load_checked
    from mtlops.config import set_value

    keys = cutoff_keys(load_checked(params_file), params_file, cutoff, today)
    for key, value in keys.items():
        set_value(params_file, key, value, check=check_config)
    return keys
