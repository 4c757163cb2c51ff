"""Ma et al. (KDD 2018, §3.3, Fig. 3) on mtlops' synthetic source: does shared-bottom degrade as the task
correlation falls, and MMoE less? And does the measured task affinity fall with it?

    .venv/bin/python benchmarks/mmoe_synthetic.py [--seeds 20] [--epochs 3] [--correlations 1.0 0.9 0.5 0.0] [--out DIR]

Per seed a fresh dataset (`mtlops.data.sources.synthetic.generate`: new u1, u2, α, β, x) and fresh
weights. Both models train with the same budget (Adam, `--epochs` epochs, no early stopping) on
`--n` rows, and are scored by the mean of both tasks' test MSE in label units on `--n-test` new rows.
Models as in the paper: shared-bottom = one shared layer of 113 units + towers of 8; MMoE = 8 experts
of 16 units + a softmax gate per task + towers of 8 (about the same parameter count). Shared-bottom
also measures the inter-task affinity (TAG look-ahead, `mtlops.training.affinity`, every 5 steps).

Prints a table per correlation (mean ± standard error over seeds; each model's paired difference Δ
from its own loss at the highest p, its median and the seeds where it is positive: a few runs that
fail to converge in the budget make the means heavy-tailed), the affinity matrices, and writes
mmoe_synthetic.png + .csv to `--out`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

MODELS = {
    "shared-bottom": ("hard", {"width": 113, "depth": 1, "tower_width": 8}),
    "MMoE": ("mmoe", {"experts": 8, "width": 16, "depth": 1, "tower_width": 8}),
}


def arrays(df, d: int) -> dict[str, np.ndarray]:
    out = {"num": df[[f"x{i}" for i in range(d)]].to_numpy(np.float32)}
    for task in ("y1", "y2"):
        out[f"y_{task}"] = df[task].to_numpy(np.float32)
        out[f"mask_{task}"] = np.ones(len(df), dtype=bool)
    return out


def run_one(model_name: str, p: float, seed: int, args) -> tuple[float, np.ndarray | None]:
    """Test MSE (mean of the two tasks, label units) and, for shared-bottom, the affinity matrix."""
    from mtlops.data.sources.synthetic import generate
    from mtlops.models import ModelSpec, TaskSpec, build_model
    from mtlops.training import TrainSettings, fit, predict
    from mtlops.training.affinity import TaskAffinity, affinity_from_history
    from mtlops.weighting import build_weighting

    df = generate(args.n + 2 * args.n_test, args.d, p, seed=seed)
    train, val, test = (arrays(part, args.d) for part in (df[: args.n], df[args.n : args.n + args.n_test],
                                                            df[args.n + args.n_test :]))  # fmt: skip
    architecture, params = MODELS[model_name]
    torch.manual_seed(seed)
    spec = ModelSpec(inputs={"num": {"dim": args.d, "columns": [f"x{i}" for i in range(args.d)]}},
                     tasks=[TaskSpec("y1", "regression", loss="mse"), TaskSpec("y2", "regression", loss="mse")],
                     architecture=architecture, arch_params=params, encoder={})  # fmt: skip
    model = build_model(spec)
    settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer="adam",
                             patience=args.epochs, device="cpu", progress=False, seed=seed)  # fmt: skip
    hooks = {}
    if model_name == "shared-bottom":
        hook = TaskAffinity(["y1", "y2"], every=5)
        hooks = {"step_hooks": [hook], "callbacks": [hook.end_epoch]}
    result = fit(model, build_weighting("equal", {}, ["y1", "y2"]), train, val, settings, **hooks)
    preds = predict(result.model, test)
    mse = np.mean([np.mean((preds[t] - test[f"y_{t}"]) ** 2) for t in ("y1", "y2")])
    affinity = affinity_from_history(result.history, ["y1", "y2"]) if hooks else None
    return float(mse), (np.array(affinity["matrix"], dtype=float) if affinity else None)


def mean_se(values) -> str:
    values = list(values)
    se = statistics.stdev(values) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return f"{statistics.mean(values):.5f} ± {se:.5f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--correlations", type=float, nargs="+", default=[1.0, 0.9, 0.5, 0.0])
    parser.add_argument("--n", type=int, default=10_000, help="training rows")
    parser.add_argument("--n-test", type=int, default=2_000, help="validation rows and test rows")
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--out", default=".", help="folder for the figure and its CSV")
    args = parser.parse_args()
    torch.set_num_threads(1)

    started = time.perf_counter()
    mse = {(m, p): [] for m in MODELS for p in args.correlations}
    affinity = {p: [] for p in args.correlations}
    for seed in range(args.seeds):
        for p in args.correlations:
            for model_name in MODELS:
                loss, z = run_one(model_name, p, seed, args)
                mse[model_name, p].append(loss)
                if z is not None:
                    affinity[p].append(z)
    print(f"n={args.n:,} train, {args.n_test:,} test, d={args.d}, {args.seeds} seeds, {args.epochs} epochs of Adam "
          f"lr {args.lr} batch {args.batch_size}; {time.perf_counter() - started:.0f} s on 1 thread")
    reference = max(args.correlations)
    print("\ntest MSE (mean of both tasks, label units; mean ± s.e. over seeds); "
          f"Δ: paired difference from p={reference}")
    print(f"{'p':>5} " + " ".join(f"{m:>20} {'Δ ' + m:>22} {'median Δ':>9} {'Δ>0':>5}" for m in MODELS))
    rows = []
    for p in args.correlations:
        cells = []
        for m in MODELS:
            diffs = np.array(mse[m, p]) - np.array(mse[m, reference])
            cells += [f"{mean_se(mse[m, p]):>20}", f"{mean_se(diffs):>22}", f"{np.median(diffs):>9.5f}",
                      f"{int((diffs > 0).sum()):>2}/{len(diffs):<2}"]  # fmt: skip
            rows.append({"correlation": p, "model": m, "mse_mean": np.mean(mse[m, p]),
                         "mse_se": np.std(mse[m, p], ddof=1) / np.sqrt(args.seeds), "delta_median": np.median(diffs),
                         "delta_q25": np.quantile(diffs, 0.25), "delta_q75": np.quantile(diffs, 0.75)})  # fmt: skip
        print(f"{p:>5} " + " ".join(cells))
    print("\nshared-bottom affinity Z(i→j) (row i stepped on, column j affected; mean over seeds):")
    for p in args.correlations:
        z = np.mean(affinity[p], axis=0)
        off = np.array([a[0, 1] + a[1, 0] for a in affinity[p]]) / 2
        spread = off.std(ddof=1) / np.sqrt(len(off))
        print(f"p={p}: [[{z[0, 0]:.2e} {z[0, 1]:.2e}] [{z[1, 0]:.2e} {z[1, 1]:.2e}]]   "
              f"off-diagonal mean {off.mean():.2e} ± {spread:.1e}")
        for row in rows:
            if row["correlation"] == p and row["model"] == "shared-bottom":
                row["affinity_off_diagonal"] = float(off.mean())
    plot(rows, args)


def plot(rows, args) -> None:
    import pandas as pd
    from matplotlib.figure import Figure

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows)
    frame.to_csv(out / "mmoe_synthetic.csv", index=False)
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    for model, part in frame.groupby("model", sort=False):
        spread = [part.delta_median - part.delta_q25, part.delta_q75 - part.delta_median]
        left.errorbar(part.correlation, part.delta_median, yerr=spread, marker="o", capsize=3, label=model)
    left.axhline(0, color="grey", linestyle=":")
    left.set_xlabel("task correlation p (cosine of w1, w2)")
    left.set_ylabel(f"test MSE − its MSE at p={max(args.correlations)}")
    left.set_title(f"median and quartiles over {args.seeds} seeds, same budget")
    left.legend()
    sb = frame[frame.model == "shared-bottom"]
    right.plot(sb.correlation, sb.affinity_off_diagonal, marker="o")
    right.axhline(0, color="grey", linestyle=":")
    right.set_xlabel("task correlation p")
    right.set_ylabel("mean off-diagonal affinity")
    right.set_title("shared-bottom: inter-task affinity")
    fig.savefig(out / "mmoe_synthetic.png", dpi=110)
    print(f"\nwrote {out / 'mmoe_synthetic.png'} and {out / 'mmoe_synthetic.csv'}")


if __name__ == "__main__":
    main()
