"""The local team stack: PostgreSQL, an MLflow tracking server and a Prefect server on 127.0.0.1.

`mtlops stack up` starts all three under `.stack/` with credentials generated into
`.stack/credentials.env` (mode 0600); `mtlops stack env` prints them as shell exports.
"""
