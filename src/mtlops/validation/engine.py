"""Great Expectations plumbing: a quiet ephemeral context with a local Data Docs site, and one checkpoint run.

Imports GX at module level, so import this module only inside functions (GX takes seconds to import).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
from great_expectations.checkpoint import UpdateDataDocsAction
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

SITE = "local_site"
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 5}


class ExpectColumnQuantileValuesNearReference(gxe.ExpectColumnQuantileValuesToBeBetween):
    """GX's quantile check with a plain-bool result.

    GX 1.24 returns `numpy.bool_` here, which its own result store cannot serialise (every run raises
    "Object of type bool is not JSON serializable"); the rendering and metrics are GX's own.
    """

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine: Any = None):
        out = super()._validate(metrics, runtime_configuration, execution_engine)
        details = out["result"].get("details", {})
        details["success_details"] = [bool(x) for x in details.get("success_details", [])]
        return {**out, "success": bool(out["success"])}


def make_context(docs_dir: Path) -> Any:
    """In-memory stores (nothing to clean up), Data Docs built into `docs_dir`, no tqdm bars, no analytics."""
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        data_docs_sites={
            SITE: {
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def for_gx(df: pd.DataFrame) -> pd.DataFrame:
    """Hand text and category columns to GX as Python objects.

    GX 1.24's pandas type check predates pandas 3's `str` dtype and matches no type name against it (nor
    against categoricals); on object columns it checks each value's type instead, which is what we mean.
    """
    as_object = {
        c: object
        for c, t in df.dtypes.items()
        if t != np.dtype(object) and (pd.api.types.is_string_dtype(t) or isinstance(t, pd.CategoricalDtype))
    }
    return df.astype(as_object) if as_object else df


def run_checkpoint(df: pd.DataFrame, suites: list[Any], docs_dir: Path) -> list[Any]:
    """Validate `df` against each suite in one Checkpoint that also builds the Data Docs; one result per suite."""
    context = make_context(docs_dir)
    batch = context.data_sources.add_pandas("snapshot").add_dataframe_asset("raw").add_batch_definition_whole_dataframe(
        "whole"
    )
    definitions = [
        context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=batch, suite=context.suites.add(suite))
        )
        for suite in suites
    ]
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="validate",
            validation_definitions=definitions,
            actions=[UpdateDataDocsAction(name="data_docs", site_names=[SITE])],
            result_format=RESULT_FORMAT,
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": for_gx(df)})
    return list(result.run_results.values())
