"""Between two retrains: is the champion still fine on the rows that arrived since its cut-off?

- `rows`: the champion's reference rows and the arriving rows (a file, or the source's arrival hook);
- `drift`: per-column drift of inputs and predictions (Evidently's default rule, pandas + scipy);
- `health`: each task's realised metric vs the one recorded at promotion, with its bootstrap interval
  (`mtlops.metrics.compare`, the gate's "worse" rule);
- `verdict`: the pure decision — ok (exit 0) / drifted (3) / degraded (4) — and every reason;
- `report`: the offline HTML page and its figures; `monitor`: gathers, decides, writes, logs to MLflow.

Sits above `registry` (it loads the champion and reads its record); `mtlops.orchestration.monitor` runs
it as the `monitor` flow and turns its verdict into events and notifications.
"""
