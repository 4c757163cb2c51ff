"""MLflow tracking and registry: the pyfunc model, registration with lineage, the promotion gate,
batch scoring and serving. Modules import MLflow themselves; importing this package stays light.

- `register.register(cfg, paths)`: one run + a new version with alias `challenger`
- `promote.promote(cfg, paths, version=None, force=False, reason=None)`: the gate; moves `champion`
  (`measure.measure`: the facts on the current test rows; `gate.gate`: the pure decision)
- `predict_table.predict_file(model_ref, input_path, output_path, batch_size=50000, paths=None)`
- `lineage.lineage(model_ref, paths=None)` / `lineage.format_lineage(d)`
- `serve.serve(paths, model_name, alias="champion", host, port)`: the scoring app (`http_app.create_app`) over HTTP
- `http_app.example_request(paths, model_ref)` / `http_app.model_schema(paths, model_ref)`: what a client sends
"""
