"""The expectation suites, built from the config (the contract) and the accepted profile (drift).

Nothing here is written per dataset: every declared feature, label, key and date column gets its
expectations from its role in params.yaml. Imports GX at module level: import this inside functions.

Notes on GX semantics used here:
- `mostly` on ExpectColumnValuesToNotBeNull counts all rows, so `mostly = 1 - max_null_fraction`;
  on other column-map expectations (in set, between, type) missing values are skipped, so those
  judge only the present values and nulls are judged once, by the null check.
- Drift checks are expectations with `severity` "critical" (level `fail`) or "warning" (level `warn`)
  and `meta.drift` naming the check; a run fails only on critical failures.
"""

from __future__ import annotations

import difflib
import math
from typing import TYPE_CHECKING, Any

import great_expectations as gx
import great_expectations.expectations as gxe

from mtlops.schema import ConfigError
from mtlops.task_types import task_type
from mtlops.validation.engine import ExpectColumnQuantileValuesNearReference
from mtlops.validation.profile import categorical_columns, numeric_columns

if TYPE_CHECKING:
    from mtlops.schema import Config, DriftCheck, ExtraExpectation

CONTRACT = "snapshot_contract"
DRIFT = "snapshot_drift"

# dtype names GX matches against a column's dtype (or, on object columns, each value's type)
NUMERIC_TYPES = [
    *(f"{k}{bits}" for k in ("int", "uint") for bits in (8, 16, 32, 64)),
    "float16", "float32", "float64", "bool", "int", "float",
    *(f"{k}{bits}Dtype" for k in ("Int", "UInt") for bits in (8, 16, 32, 64)),
    "Float32Dtype", "Float64Dtype", "BooleanDtype",
]  # fmt: skip
TEXT_TYPES = ["str"]  # text/category columns reach GX as objects (engine.for_gx); each value must be a str


# --------------------------------------------------------------------------------------------- contract
def column_kinds(cfg: Config) -> dict[str, list[str] | None]:
    """Every declared column and the GX type list its values must match (None: any type)."""
    kinds: dict[str, list[str] | None] = dict.fromkeys(cfg.data.key)
    if cfg.data.date_column:
        kinds[cfg.data.date_column] = None
    kinds |= dict.fromkeys(cfg.features.numeric, NUMERIC_TYPES)
    kinds |= dict.fromkeys(cfg.features.categorical, TEXT_TYPES)
    if cfg.features.text:
        kinds[cfg.features.text] = TEXT_TYPES
    if cfg.features.image:
        kinds[cfg.features.image] = None  # arrays or nested lists; prepare checks their shape
    label_types: dict[str | None, list[str]] = {"numeric": NUMERIC_TYPES, "text": TEXT_TYPES}
    for task in cfg.tasks:
        kind = label_types.get(task_type(task.type).label_kind(task))
        kinds |= dict.fromkeys(task.columns, kind)
    return kinds


def contract_suite(cfg: Config) -> Any:
    """Columns exist with the right kind, nulls within bounds, finite magnitudes, label domains (a
    classification task's labels hold two classes at least), key uniqueness, ranges, extras."""
    v = cfg.validation
    kinds = column_kinds(cfg)
    labels = {c for t in cfg.tasks for c in t.columns}
    exps: list[Any] = [gxe.ExpectTableRowCountToBeBetween(min_value=v.min_rows)]
    for col in [*kinds, *(c for c in v.null_fraction if c not in kinds)]:
        if col in kinds:
            exps.append(gxe.ExpectColumnToExist(column=col))
        if kinds.get(col):
            exps.append(gxe.ExpectColumnValuesToBeInTypeList(column=col, type_list=kinds[col]))
        if kinds.get(col) == NUMERIC_TYPES:  # ±inf and 1e300 alike: they would make the column's statistics infinite
            limit = v.max_abs_value
            exps.append(gxe.ExpectColumnValuesToBeBetween(column=col, min_value=-limit, max_value=limit))
        max_null = v.null_fraction.get(col, v.label_null_fraction if col in labels else v.max_null_fraction)
        if max_null < 1:
            exps.append(gxe.ExpectColumnValuesToNotBeNull(column=col, mostly=round(1 - max_null, 12)))
    for task in cfg.tasks:
        exps += _label_domain(task)
        if task_type(task.type).classification:  # one class: no metric, no baseline, no gate can judge it
            exps += [gxe.ExpectColumnUniqueValueCountToBeBetween(column=c, min_value=2) for c in task.columns]
    key = cfg.data.key
    if len(key) == 1:
        exps.append(gxe.ExpectColumnValuesToBeUnique(column=key[0]))
    elif len(key) > 1:
        exps.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(key)))
    for col, (lo, hi) in v.ranges.items():
        if lo is not None or hi is not None:
            exps.append(gxe.ExpectColumnValuesToBeBetween(column=col, min_value=lo, max_value=hi))
    exps += [extra_expectation(i, spec) for i, spec in enumerate(v.expectations)]
    return gx.ExpectationSuite(name=CONTRACT, expectations=exps)


def _label_domain(task: Any) -> list[Any]:
    """The label's domain as its task type declares it (values in a set, within bounds, ...)."""
    return [getattr(gxe, name)(**kwargs) for name, kwargs in task_type(task.type).label_expectations(task)]


def extra_expectation(i: int, spec: ExtraExpectation) -> Any:
    """A user's expectation from validation.expectations, by GX class name and kwargs."""
    where = f"validation.expectations.{i}"
    cls = getattr(gxe, spec.type, None)
    if not (isinstance(cls, type) and issubclass(cls, gxe.Expectation)):
        known = [n for n in dir(gxe) if n.startswith("Expect")]
        close = difflib.get_close_matches(spec.type, known, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see great_expectations.expectations"
        raise ConfigError(f"{where}.type: unknown GX expectation {spec.type!r}; {hint}")
    try:
        return cls(**spec.kwargs)
    except (TypeError, ValueError) as err:
        detail = " ".join(str(err).split())
        raise ConfigError(f"{where}.kwargs: {spec.type}: {detail}") from None


# ------------------------------------------------------------------------------------------------ drift
def drift_suite(
    cfg: Config, profile: dict[str, Any], days: int | None = None, arrived: dict[str, Any] | None = None
) -> Any | None:
    """Checks against the accepted profile, each at its configured level; None when every check is off.

    `days`: the span of the snapshot's date column. With it (and `row_count_change.per_day`), the row
    count is judged against the reference's arrival rate times the new span: a month more data is
    expected growth, half the rows missing is not. `arrived` (`profile.new_days`): the days after the
    reference's last day; their rows alone are judged against the reference's rate too (`arrival_rate`,
    same threshold and level), so a newest month that arrived at a tenth of its rate fails although the
    whole snapshot, diluted by the months before it, would pass.
    """
    d = cfg.validation.drift
    exps: list[Any] = []
    if d.row_count_change.level != "off":
        n0, t = expected_rows(profile, days, d.row_count_change.per_day), d.row_count_change.threshold
        exps.append(
            gxe.ExpectTableRowCountToBeBetween(
                min_value=max(0, math.ceil(n0 * (1 - t))),
                max_value=math.floor(n0 * (1 + t)),
                **_drift_args(d.row_count_change, "row_count_change", reference=n0),
            )
        )
        if arrived and d.row_count_change.per_day and profile.get("days"):
            n1 = expected_rows(profile, arrived["days"], per_day=True)
            exps.append(
                gxe.ExpectTableRowCountToBeBetween(
                    min_value=max(0, math.ceil(n1 * (1 - t))),
                    max_value=math.floor(n1 * (1 + t)),
                    row_condition=arrived["condition"],
                    condition_parser="pandas",
                    **_drift_args(d.row_count_change, "arrival_rate", reference=n1,
                                  days=f"{arrived['first']}..{arrived['last']}"),
                )
            )
    if d.unseen_categories.level != "off" and d.unseen_categories.threshold < 1:
        t = d.unseen_categories.threshold
        for col in categorical_columns(cfg):
            if col in profile.get("categorical", {}):
                exps.append(
                    gxe.ExpectColumnValuesToBeInSet(
                        column=col,
                        value_set=profile["categorical"][col],
                        mostly=round(1 - t, 12),
                        **_drift_args(d.unseen_categories, "unseen_categories"),
                    )
                )
    for col in numeric_columns(cfg):
        ref = profile.get("numeric", {}).get(col)
        if ref is None:
            continue
        scale = ref["std"] or 1.0  # a column constant in the reference is measured in its own units
        if d.mean_shift.level != "off":
            t = d.mean_shift.threshold * scale
            exps.append(
                gxe.ExpectColumnMeanToBeBetween(
                    column=col,
                    min_value=ref["mean"] - t,
                    max_value=ref["mean"] + t,
                    **_drift_args(d.mean_shift, "mean_shift", reference=ref["mean"], scale=scale),
                )
            )
        if d.quantile_shift.level != "off":
            t = d.quantile_shift.threshold * scale
            exps.append(
                ExpectColumnQuantileValuesNearReference(
                    column=col,
                    quantile_ranges={
                        "quantiles": profile["quantiles"],
                        "value_ranges": [[q - t, q + t] for q in ref["quantiles"]],
                    },
                    **_drift_args(d.quantile_shift, "quantile_shift", reference=ref["quantiles"], scale=scale),
                )
            )
    return gx.ExpectationSuite(name=DRIFT, expectations=exps) if exps else None


def expected_rows(profile: dict[str, Any], days: int | None, per_day: bool) -> float:
    """The row count the reference predicts: its rows per day times `days`, or its rows when there is no
    date span to scale by."""
    if per_day and days and profile.get("days"):
        return round(profile["rows"] / profile["days"] * days, 3)
    return profile["rows"]


def _drift_args(check: DriftCheck, name: str, **reference: Any) -> dict[str, Any]:
    return {
        "severity": "critical" if check.level == "fail" else "warning",
        "meta": {"drift": name, "threshold": check.threshold, "level": check.level, **reference},
    }
