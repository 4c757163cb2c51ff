"""The packaged multi-task model: raw feature rows in, one column per task out.

It is logged as an MLflow *model from code* (`model_code.py` names `MultiTaskPyfunc`), so the
registry stores source code, the preprocessor's JSON and the served model's folder (`data/models/mtl/`:
the network checkpoint, the serving choice and the LightGBM / single-task files it names,
`mtlops.training.served`) — no pickle of live objects or training data. Any process with mtlops
installed loads it (`mlflow.pyfunc.load_model`, `mlflow models serve --env-manager local`).

Output columns per task are its task type's (`output_columns`), named for `pred_<task>` so that they
never collide with an input column (a label column is usually named like its task), e.g.
- binary: `pred_<task>_proba` (P(1)) and `pred_<task>_label` (0/1, or the task's positive and negative
  class, at the threshold chosen on validation,
  `mtlops.registry.output_rules`; 0.5 in a model packaged before)
- multiclass: `pred_<task>_proba_<class>` per class and `pred_<task>_label` (the most probable class)
- regression: `pred_<task>`; multi_regression: `pred_<task>_0` … `pred_<task>_<k-1>`

The model's MLflow metadata carries `json_schema`: JSON Schemas of one input row and one output row.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel  # `mlflow.pyfunc.PythonModel` hides it from mypy

from mtlops.task_types import task_type

if TYPE_CHECKING:
    from mlflow.models.model import ModelInfo
    from mlflow.types import Schema

    from mtlops.paths import Paths
    from mtlops.schema import Config

MODEL_CODE = Path(__file__).with_name("model_code.py")
PREPROCESSOR, CHECKPOINT = "preprocessor", "checkpoint"
EXAMPLE_ROWS = 5
PREFIX = "pred_"  # output columns are the task type's columns of the task named `pred_<task>`


# ------------------------------------------------------------------------------------------ columns
def _as_output(task: dict[str, Any]) -> dict[str, Any]:
    return {**task, "name": f"{PREFIX}{task['name']}"}


def output_columns(task: dict[str, Any]) -> list[str]:
    """The prediction columns of one task (`task`: a meta.json entry with its name), as its type names them."""
    return task_type(task["type"]).output_columns(_as_output(task))


def prediction_frame(preds: dict[str, np.ndarray], tasks: list[dict[str, Any]], index=None) -> pd.DataFrame:
    """`mtlops.training.predict` output → one DataFrame with the columns of `output_columns`."""
    cols: dict[str, np.ndarray] = {}
    for task in tasks:
        cols |= task_type(task["type"]).to_output(_as_output(task), np.asarray(preds[task["name"]]))
    return pd.DataFrame(cols, index=index)


def task_predictions(frame: pd.DataFrame, tasks: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The inverse of `prediction_frame`: per-task arrays in `mtlops.training.predict`'s format.

    Tasks whose columns the frame lacks (a model trained without that task) are left out.
    """
    out: dict[str, np.ndarray] = {}
    for task in tasks:
        values = task_type(task["type"]).from_output(_as_output(task), frame)
        if values is not None:
            out[task["name"]] = values
    return out


def bad_input(message: str) -> MlflowException:
    """The error for a request the model cannot score: HTTP 400 from the scoring server."""
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


# -------------------------------------------------------------------------------------------- model
class MultiTaskPyfunc(PythonModel):
    """Preprocessor + multi-task network behind MLflow's pyfunc interface.

    `context.model_config` holds `{"features": [...], "tasks": [meta.json task entries + name]}`;
    `context.artifacts` the preprocessor JSON and the served model: its folder (a model file for versions
    registered before serving choices existed).
    """

    def load_context(self, context) -> None:
        self._setup(context.model_config, context.artifacts[PREPROCESSOR], context.artifacts[CHECKPOINT])

    def _setup(self, config: dict[str, Any], preprocessor: str | Path, checkpoint: str | Path) -> None:
        from mtlops.data.preprocess import Preprocessor
        from mtlops.training.served import load_served

        self.features: list[str] = list(config["features"])
        self.tasks: list[dict[str, Any]] = list(config["tasks"])
        self.preprocessor = Preprocessor.load(preprocessor)
        self.model = load_served(checkpoint)

    @classmethod
    def from_files(cls, config: dict[str, Any], preprocessor: str | Path, checkpoint: str | Path) -> MultiTaskPyfunc:
        """The same model built in-process from the stage outputs (signature and example at log time)."""
        model = cls()
        model._setup(config, preprocessor, checkpoint)
        return model

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from mtlops.data.preprocess import SchemaError
        from mtlops.training import predict

        df = model_input if isinstance(model_input, pd.DataFrame) else _as_frame(model_input)
        if len(df) == 0:
            raise bad_input("no rows to score: the request's data is empty")
        missing = [c for c in self.features if c not in df.columns]
        if missing:
            raise bad_input(f"missing input column(s) {missing}; the model needs {self.features}")
        try:
            arrays = self.preprocessor.transform(df)
        except SchemaError as err:
            raise bad_input(str(err)) from None
        return prediction_frame(predict(self.model, arrays), self.tasks, index=df.index)


def _as_frame(model_input: Any) -> pd.DataFrame:
    try:
        return pd.DataFrame(model_input)
    except (ValueError, TypeError) as err:
        raise bad_input(f"expected a table of feature rows, got {type(model_input).__name__}: {err}") from None


# ------------------------------------------------------------------------------------------ logging
def model_config(cfg: Config, meta: dict[str, Any]) -> dict[str, Any]:
    """What the packaged model needs besides its artifacts: raw input columns and the target tasks' descriptions
    (an auxiliary task is never served)."""
    tasks = [{"name": t.name, **meta["tasks"][t.name]} for t in cfg.target_tasks]
    return {"features": cfg.features.all_columns(), "tasks": tasks}


def input_schema(cfg: Config, rows: pd.DataFrame) -> Schema:
    """Every feature column required; categorical/text columns typed from the data.

    Numeric columns are left untyped here: MLflow refuses int64 for a double column ("cannot safely
    convert"), and JSON requests, like integral columns read back from an input example, arrive as
    int64. The preprocessor checks them instead and names a column that is not numeric (HTTP 400).
    """
    from mlflow.models import infer_signature
    from mlflow.types import ColSpec, Schema, TensorSpec
    from mlflow.types.schema import AnyType

    numeric = set(cfg.features.numeric)
    specs: list[ColSpec | TensorSpec] = []
    for col in cfg.features.all_columns():
        dtype: Any = AnyType()
        # image cells arrive as nested JSON lists of float64 (MLflow would type them Array(float)): untyped
        if col not in numeric and col != cfg.features.image and rows[col].notna().any():
            try:
                dtype = infer_signature(rows[[col]]).inputs.inputs[0].type
            except MlflowException:
                pass  # values MLflow cannot type stay untyped; the preprocessor checks them
        specs.append(ColSpec(dtype, col, required=True))
    return Schema(specs)


def conform(df: pd.DataFrame, schema: Schema | None) -> pd.DataFrame:
    """Safe upcasts MLflow's schema check refuses on its own: integer/bool input for double columns."""
    if schema is None or not schema.has_input_names():
        return df
    casts = {
        spec.name: "float64"
        for spec in schema.inputs
        if spec.name in df.columns
        and str(spec.type) == "double"
        and (pd.api.types.is_integer_dtype(df[spec.name]) or pd.api.types.is_bool_dtype(df[spec.name]))
    }
    return df.astype(casts) if casts else df


def requirements() -> list[str]:
    """Pinned runtime needs of the packaged model (given explicitly: inferring them re-imports the model).

    mtlops itself must be installed where the model loads (`pip install -e .` of the commit in the
    version's lineage tags).
    """
    reqs = []
    for dist in ("mtlops", "mlflow", "torch", "numpy", "pandas", "pyarrow", "lightgbm"):
        try:
            reqs.append(f"{dist}=={metadata.version(dist).split('+')[0]}")
        except metadata.PackageNotFoundError:
            continue
    return reqs


def log_model(cfg: Config, paths: Paths, name: str = "model") -> ModelInfo:
    """Log the pyfunc (code + preprocessor + checkpoint, signature, input example) in the active run."""
    from mlflow.models import ModelSignature

    from mtlops.data.prepare import load_meta
    from mtlops.errors import DataError
    from mtlops.registry.output_rules import with_output_rules

    meta = load_meta(paths)
    config = model_config(cfg, meta)
    for path, what in ((paths.checkpoint, "model checkpoint"), (paths.preprocessor, "preprocessor"),
                       (paths.test_raw, "test rows")):
        if not path.exists():
            raise DataError(f"{path}: {what} not found (run the stage that makes it first)")
    config["tasks"], rules = with_output_rules(config["tasks"], paths)  # e.g. a binary label's threshold
    rows = pd.read_parquet(paths.test_raw)
    missing = [c for c in config["features"] if c not in rows.columns]
    if missing:
        raise DataError(f"{paths.test_raw}: missing feature column(s) {missing}")
    rows = rows[config["features"]]
    schema = input_schema(cfg, rows)
    example = conform(rows.head(EXAMPLE_ROWS).reset_index(drop=True), schema)
    outputs = MultiTaskPyfunc.from_files(config, paths.preprocessor, paths.model_dir).predict(None, example)
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=str(MODEL_CODE),
        artifacts={PREPROCESSOR: str(paths.preprocessor), CHECKPOINT: str(paths.model_dir)},
        model_config=config,
        signature=ModelSignature(inputs=schema, outputs=_output_schema(outputs)),
        input_example=example,
        pip_requirements=requirements(),
        metadata={
            "mtlops_version": _version(),
            "python": sys.version.split()[0],
            "json_schema": json_schema(cfg, rows, outputs),
            "output_rules": rules,
        },
    )


def json_schema(cfg: Config, rows: pd.DataFrame, outputs: pd.DataFrame) -> dict[str, Any]:
    """JSON Schemas of one input row (every feature, null where missing) and one output row."""
    f = cfg.features
    described = {
        **dict.fromkeys(f.numeric, ("number", "a number; null is imputed")),
        **{c: (_json_type(rows[c]), "a category; an unseen value or null counts as unknown") for c in f.categorical},
        **({f.text: ("string", "text")} if f.text else {}),
    }
    inputs: dict[str, Any] = {c: {"type": [kind, "null"], "description": text} for c, (kind, text) in described.items()}
    if f.image:
        inputs[f.image] = {"type": "array", "description": "an image: a flat square, HxW or CxHxW list of numbers"}
    return {
        "input": _row_schema({c: inputs[c] for c in f.all_columns()}),
        "output": _row_schema({c: {"type": _json_type(outputs[c])} for c in outputs.columns}),
    }


def _row_schema(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": list(properties),
    }


def _json_type(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_integer_dtype(values):
        return "integer"
    return "number" if pd.api.types.is_float_dtype(values) else "string"


def _output_schema(outputs: pd.DataFrame) -> Schema:
    import warnings

    from mlflow.models import infer_signature

    with warnings.catch_warnings():  # integer label columns are outputs: they never hold missing values
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        return infer_signature(outputs).inputs


def _version() -> str:
    from mtlops import __version__

    return __version__
