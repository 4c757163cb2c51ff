"""MLflow tracking and registry: the pyfunc model, registration with lineage, the promotion gate,
batch scoring and serving. Modules import MLflow themselves; importing this package stays light.

- `register.register(cfg, paths)`: one run + a new version with alias `challenger`
- `promote.promote(cfg, paths, version=None, force=False, reason=None)`: the gate; moves `champion`
- `predict_table.predict_file(model_ref, input_path, output_path, batch_size=50000, paths=None)`
- `lineage.lineage(model_ref, paths=None)` / `lineage.format_lineage(d)`
- `serve.serve(paths, model_name, alias="champion", host, port)`: the scoring app (`scoring.create_app`) over HTTP
- `scoring.example_request(paths, model_ref)` / `scoring.model_schema(paths, model_ref)`: what a client sends
"""
