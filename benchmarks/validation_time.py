"""Wall time of the validate stage on the full flights snapshot (336,776 rows) with the default suite.

    .venv/bin/python benchmarks/validation_time.py [--params params.yaml] [--repeat 3]

Ingests the snapshot into the repo's data/raw when it is not there yet (as `mtlops ingest` would), then
validates a copy of it in a temporary project folder, so the repo's reports and accepted profile stay
as they are. The first run has no accepted profile (contract only); later runs also check drift.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--repeat", type=int, default=3, help="runs with the drift suite (after the first)")
    args = parser.parse_args()

    from mtlops.checks import load_checked
    from mtlops.data.ingest import ingest
    from mtlops.paths import Paths
    from mtlops.validation import ValidationFailed
    from mtlops.validation.run import validate

    cfg = load_checked(args.params)
    repo = Paths.at(Path(args.params).resolve().parent)
    if not repo.raw_snapshot.exists():
        tick = time.perf_counter()
        ingest(cfg, repo)
        print(f"ingest: {time.perf_counter() - tick:.1f} s -> {repo.raw_snapshot}")

    with tempfile.TemporaryDirectory(prefix="mtlops-validation-") as tmp:
        paths = Paths.at(tmp)
        paths.raw_dir.mkdir(parents=True)
        shutil.copy(repo.raw_snapshot, paths.raw_snapshot)
        tick = time.perf_counter()
        import great_expectations  # noqa: F401  (timed apart: once per process)

        print(f"GX import: {time.perf_counter() - tick:.2f} s")
        runs = []
        for i in range(1 + args.repeat):
            tick = time.perf_counter()
            try:
                summary = validate(cfg, paths)
            except ValidationFailed as err:
                print(err)
                print(json.dumps(err.summary["failed"], indent=2, default=str))
                raise SystemExit(1) from None
            runs.append(time.perf_counter() - tick)
            kind = "contract" if i == 0 else "contract + drift"
            stats = summary["statistics"]
            print(
                f"run {i + 1} ({kind}): {runs[-1]:.2f} s; {summary['rows']:,} rows, "
                f"{stats['evaluated']} expectations, {stats['warnings']} warnings; timings {summary['timings']}"
            )
        for w in summary["warnings"]:
            print(f"  warning: {w.get('drift') or w['expectation']} {w['column']}: {w.get('value', w['observed'])}")
        if args.repeat:
            print(f"validate (with drift): median {statistics.median(runs[1:]):.2f} s, best {min(runs[1:]):.2f} s")


if __name__ == "__main__":
    main()
