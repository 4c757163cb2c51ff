"""Scheduled retraining: a local Prefect server plus the `retrain` deployment on params' cron.

`python flows/schedule.py` is the same as `make serve` / `mtlops schedule`. For a remote server and
a work pool, see docs/scheduling.md.
"""

import sys

from mtlops.orchestration.schedule import serve_schedule
from mtlops.processes import owned_children

if __name__ == "__main__":
    with owned_children("schedule"):
        sys.exit(serve_schedule(params_file=sys.argv[1] if len(sys.argv) > 1 else "params.yaml"))
