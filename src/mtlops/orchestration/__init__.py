"""Running the pipeline: the Prefect `retrain` flow over the stages, and the drivers around it.

- `dvc`: one stage through `dvc repro --single-item` (dvc.lock records it), and the params check DVC needs;
- `flow`: the `retrain` flow, each stage a Prefect task (through DVC or in-process), its retries and artifacts;
- `cutoff`: new data arrives, through the source's `arrival` hook (`mtlops.data.sources`);
- `retrain`: `mtlops run` (`make run`), the flow once, then the per-task table, the gate and where to look;
- `replay`: `mtlops simulate`, monthly retraining replayed;
- `schedule`: `mtlops schedule`, a local Prefect server and the deployment on params' cron and timezone;
- `lock`: one run at a time per project; `recovery`: a failed or killed run's outputs, drift reference and
  MLflow runs put right; `store_check`: the tracking store takes a write before any stage;
- `prefect_api`: the configured Prefect API, or a local server that is a child the command owns
  (`mtlops.processes`, a foundation module so the registry's model server can use it too).

`flows/` holds the thin entry points users point Prefect at. Prefect is imported inside the functions
that use it: importing it costs a second, and the CLI must not pay it.
"""
