"""Event → flow run: how long after the monitor emits `mtlops.data.arrived` does the retrain run exist?

    .venv/bin/python benchmarks/event_latency.py [--events 5]

Starts a local Prefect API (the test harness: a real server process with its trigger and action
services), deploys a `retrain` flow with the trigger `mtlops schedule` serves
(`mtlops.orchestration.events.retrain_trigger`), then emits --events events, one at a time, and times
each until the server has created the flow run (polling every 0.1 s). Prints each latency and the
median. The worker's pick-up (its poll interval, PREFECT_WORKER_QUERY_SECONDS, 10 s by default) comes on
top of this for a run to start.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time


async def _runs(deployment_id) -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    async with get_client() as client:
        only = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        return len(await client.read_flow_runs(deployment_filter=only))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="prefect-home-"))

    from prefect import flow
    from prefect.testing.utilities import prefect_test_harness

    from mtlops.orchestration.events import ARRIVED, emit, retrain_trigger
    from mtlops.orchestration.prefect_api import drain

    @flow(name="retrain")
    def retrain(params_file: str = "params.yaml", cutoff: str | None = None) -> None: ...

    with prefect_test_harness(server_startup_timeout=120):
        deployment = retrain.to_deployment("bench", parameters={"params_file": "params.yaml"},
                                           triggers=[retrain_trigger("bench-model")])
        deployment_id = deployment.apply()
        time.sleep(2)  # the trigger service loads the new automation
        latencies = []
        for i in range(args.events):
            before = asyncio.run(_runs(deployment_id))
            began = time.monotonic()
            emit(ARRIVED, "bench-model", {"cutoff": f"2013-{i + 1:02d}"})
            drain()
            while asyncio.run(_runs(deployment_id)) == before and time.monotonic() - began < 60:
                time.sleep(0.1)
            latencies.append(time.monotonic() - began)
            print(f"event {i + 1}: flow run created after {latencies[-1]:.2f} s")
        print(f"median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s over {len(latencies)} events")


if __name__ == "__main__":
    main()
