"""What the gate's paired bootstrap costs, and how sure it is, at the size of the flights test window.

    .venv/bin/python benchmarks/promotion_gate.py [--rows 28135] [--resamples 200 500 1000]

Scores a candidate against two references (its single-task models and the champion) on the flights
task set (two AUC tasks, one MAE task) with synthetic predictions of realistic quality, as the promote
stage does (`mtlops.registry.measure.Scorer`); no models are loaded, so the figure is the bootstrap's
own cost. Prints per resample count: wall and CPU seconds (median over seeds), and how much the 97.5%
bound moves between seeds (the Monte Carlo error that the resample count buys down).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np


def arrays(rows: int, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    """Labels and masks like flights' test window, and three models' predictions (candidate a bit worse)."""
    rng = np.random.default_rng(seed)
    score = rng.normal(size=rows)
    delayed = (score + rng.normal(size=rows) > 1.0).astype(np.float32)  # ~21% positive
    cancelled = (score + rng.normal(scale=0.5, size=rows) > 2.2).astype(np.float32)  # ~2.5% positive
    arr_delay = (10 + 30 * score + 20 * rng.standard_t(3, size=rows)).astype(np.float32)
    test = {"y_delayed": delayed, "mask_delayed": rng.random(rows) < 0.97,
            "y_cancelled": cancelled, "mask_cancelled": np.ones(rows, bool),
            "y_arr_delay": arr_delay, "mask_arr_delay": rng.random(rows) < 0.96}

    def model(noise: float) -> dict[str, np.ndarray]:
        z = score + rng.normal(scale=noise, size=rows)
        return {"delayed": 1 / (1 + np.exp(-z)), "cancelled": 1 / (1 + np.exp(-2 * z)),
                "arr_delay": 10 + 30 * z}

    return test, {"candidate": model(0.62), "single-task model": model(0.6), "champion": model(0.6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(Path(__file__).resolve().parents[1] / "params.yaml"))
    parser.add_argument("--rows", type=int, default=28135)  # the flights test window of reports/promotion.json
    parser.add_argument("--resamples", type=int, nargs="+", default=[200, 500, 1000])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()

    import pandas as pd

    from mtlops.checks import load_checked
    from mtlops.config import with_overrides
    from mtlops.registry.measure import Scorer, TestRows

    base = load_checked(args.params)
    test, preds = arrays(args.rows)
    rows = TestRows(pd.DataFrame(index=range(args.rows)), test)
    targets = base.target_tasks  # what the gate judges (auxiliary tasks are never scored)
    print(f"{args.rows} rows; tasks {[t.name for t in targets]}; candidate vs single-task and vs champion")
    print("resamples  wall s  cpu s  spread of the 97.5% bound over seeds, per task (percentage points)")
    for n in args.resamples:
        seconds, cpu, highs = [], [], {t.name: [] for t in targets}
        for seed in range(args.seeds):
            cfg = with_overrides(base, {"promotion": {"bootstrap": n}, "project": {"seed": seed}})
            start, start_cpu = time.perf_counter(), time.process_time()
            scorer = Scorer(cfg, rows)
            for task in cfg.target_tasks:
                for who in ("single-task model", "champion"):
                    change = scorer.compare(task, preds["candidate"][task.name], who, preds[who][task.name]).change
                    if who == "champion":
                        highs[task.name].append(100 * change.ci_high)
            seconds.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        spread = "  ".join(f"{t} {max(v) - min(v):.3f}" for t, v in highs.items())
        print(f"{n:>9}  {statistics.median(seconds):>6.1f}  {statistics.median(cpu):>5.1f}  {spread}")


if __name__ == "__main__":
    main()
