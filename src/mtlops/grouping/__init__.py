"""Task grouping: which tasks share a trunk — all together, in groups, or a task alone.

`mtlops.grouping.partitions` enumerates, proposes and scores candidate partitions (pure);
`mtlops.grouping.run.group_tasks(cfg, paths)` is the stage's work. Nothing heavy is imported here.
"""
