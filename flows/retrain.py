"""The `retrain` flow, for Prefect's own tools: `prefect deploy flows/retrain.py:retrain`, or
`python flows/retrain.py [params.yaml]` to run it once. The flow itself lives in mtlops.orchestration.flow."""

import sys

from mtlops.orchestration.flow import build_retrain_flow

retrain = build_retrain_flow()

if __name__ == "__main__":
    retrain(params_file=sys.argv[1] if len(sys.argv) > 1 else "params.yaml")
