"""Where every stage reads and writes, relative to one project root (the folder holding params.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mtlops.experiment import current


@dataclass(frozen=True)
class Paths:
    root: Path
    store_root: Path | None = None  # where mlflow/ lives; defaults to root

    @classmethod
    def at(cls, root: str | Path = ".", store_root: str | Path | None = None) -> Paths:
        return cls(Path(root).resolve(), Path(store_root).resolve() if store_root else None)

    @classmethod
    def for_params(cls, params_file: str | Path) -> Paths:
        """A run's root is its params file's folder; the MLflow store is the enclosing project's.

        So `mtlops run --params examples/x/params.yaml` keeps its data under examples/x/ and still
        registers into the project's one registry (mlflow/ beside the nearest dvc.yaml or .git). Inside
        `dvc exp run` it is the repository DVC names in `DVC_ROOT`: a `--temp` or queued experiment runs
        in a throwaway clone whose (git-ignored) mlflow/ would be empty and lost.
        """
        root = Path(params_file).resolve().parent
        exp = current(needs="name")
        if exp is not None and exp.root:
            return cls.at(root, exp.root)
        for folder in (root, *root.parents):
            if (folder / "dvc.yaml").exists() or (folder / ".git").exists():
                return cls.at(root, folder)
        return cls.at(root)

    # ingest
    @property
    def raw_dir(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def raw_snapshot(self) -> Path:
        return self.raw_dir / "snapshot.parquet"

    @property
    def raw_meta(self) -> Path:
        return self.raw_dir / "snapshot.json"

    # validate
    @property
    def validation_dir(self) -> Path:
        return self.root / "reports" / "validation"

    @property
    def validation_summary(self) -> Path:
        return self.validation_dir / "summary.json"

    @property
    def validation_report(self) -> Path:
        """The validation result as one page that renders offline; it links the GX Data Docs."""
        return self.validation_dir / "index.html"

    @property
    def data_docs_dir(self) -> Path:
        return self.validation_dir / "data_docs"

    @property
    def profile_dir(self) -> Path:
        """The last accepted snapshot's profile: kept across runs, replaced only on a pass."""
        return self.root / "data" / "profile"

    @property
    def accepted_profile(self) -> Path:
        return self.profile_dir / "accepted.json"

    # prepare
    @property
    def processed_dir(self) -> Path:
        return self.root / "data" / "processed"

    def split_arrays(self, split: str) -> Path:
        return self.processed_dir / f"{split}.npz"

    @property
    def preprocessor(self) -> Path:
        return self.processed_dir / "preprocessor.json"

    @property
    def processed_meta(self) -> Path:
        return self.processed_dir / "meta.json"

    @property
    def test_raw(self) -> Path:
        """The test split's raw feature rows: the gate re-scores the champion on them."""
        return self.processed_dir / "test_raw.parquet"

    # baselines, search, train
    @property
    def models_dir(self) -> Path:
        return self.root / "data" / "models"

    @property
    def baselines_dir(self) -> Path:
        return self.models_dir / "baselines"

    def stl_model(self, task: str) -> Path:
        """A task's single-task network (the baselines stage's)."""
        return self.baselines_dir / f"stl_{task}.pt"

    def gbdt_model(self, task: str, part: int | None = None) -> Path:
        """A task's LightGBM booster; `part` j: one of a task's boosters, one per output (multi_regression)."""
        return self.baselines_dir / (f"gbdt_{task}.txt" if part is None else f"gbdt_{task}.{part}.txt")

    @property
    def baselines_metrics(self) -> Path:
        return self.root / "reports" / "baselines.json"

    @property
    def search_dir(self) -> Path:
        return self.root / "data" / "search"

    @property
    def best_params(self) -> Path:
        return self.models_dir / "best_params.json"

    @property
    def search_summary(self) -> Path:
        return self.root / "reports" / "search.json"

    @property
    def grouping(self) -> Path:
        return self.models_dir / "grouping.json"

    @property
    def model_dir(self) -> Path:
        return self.models_dir / "mtl"

    @property
    def checkpoint(self) -> Path:
        return self.model_dir / "model.pt"

    @property
    def history(self) -> Path:
        return self.root / "reports" / "history.json"

    @property
    def train_checkpoints(self) -> Path:
        """The train stage's per-epoch checkpoints: no stage's DVC output, so a killed run's survive it."""
        return self.root / "data" / "checkpoints" / "train"

    # evaluate, register, promote
    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def metrics(self) -> Path:
        return self.reports_dir / "metrics.json"

    @property
    def headline(self) -> Path:
        """The few figures `dvc metrics show` lists (metrics.json has every one)."""
        return self.reports_dir / "headline.json"

    @property
    def summary(self) -> Path:
        return self.reports_dir / "summary.md"

    @property
    def plots_dir(self) -> Path:
        return self.reports_dir / "plots"

    @property
    def registration(self) -> Path:
        return self.reports_dir / "registration.json"

    @property
    def promotion(self) -> Path:
        return self.reports_dir / "promotion.json"

    @property
    def mlflow_dir(self) -> Path:
        return (self.store_root or self.root) / "mlflow"

    @property
    def default_tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"
