"""The `monitor` flow, for Prefect's own tools: `prefect deploy` (prefect.yaml's `monitor` deployment), or
`python flows/monitor.py [params.yaml]` to run it once. The flow lives in mtlops.orchestration.monitor."""

import sys

from mtlops.orchestration.monitor import build_monitor_flow

monitor = build_monitor_flow()

if __name__ == "__main__":
    monitor(params_file=sys.argv[1] if len(sys.argv) > 1 else "params.yaml")
