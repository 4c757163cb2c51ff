"""The search's best params as the stages after it apply them: a config overlay from `best_params.json`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mtlops.catalog import check_methods
from mtlops.config import with_overrides
from mtlops.experiment import refuse_hidden_overrides
from mtlops.io import read_json

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def searched_config(cfg: Config, paths: Paths) -> tuple[Config, bool]:
    """The config with the search's best params applied when `train.use_search` (and whether any were).

    In a DVC experiment, an overlay that would replace a key the experiment set is refused, whichever
    trial won (trial 0 keeps the config): the same answer every time.
    """
    if not (cfg.train.use_search and paths.best_params.exists()):
        return cfg, False
    overlay = read_json(paths.best_params, "best params")
    if cfg.search.enabled:
        refuse_hidden_overrides(paths.root / "params.yaml", _searched(cfg))
    if not overlay:
        return cfg, False
    searched = with_overrides(cfg, overlay)
    check_methods(searched, "<overrides>")  # a method's params must fit its file, as in params.yaml
    return searched, True


def _searched(cfg: Config) -> dict[str, list[str]]:
    """The keys a search trial may choose ({section: [keys]}), less `search.fixed`."""
    from mtlops.schema import SEARCHED_KEYS

    keys: dict[str, list[str]] = {}
    for dotted in SEARCHED_KEYS:
        if dotted not in cfg.search.fixed:
            section, key = dotted.split(".")
            keys.setdefault(section, []).append(key)
    return keys
