"""The `mtlops` command: one subcommand per stage, plus run, promote, rollback, monitor, predict, serve, lineage,
simulate.

Heavy tools are imported inside the commands, so `mtlops --help` answers at once. A mistake the
user can fix (params, data, registry state) prints one line naming it and exits 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="mtlops",
    help="Train, judge and ship multi-task models: ingest → validate → prepare → baselines → search → "
    "grouping → train → evaluate → register → promote.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ParamsOpt = Annotated[Path, typer.Option("--params", "-p", help="the params file (its folder is the run's root)")]
DEFAULT_PARAMS = Path("params.yaml")


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn errors a user can cause into one red line and exit 1 (no traceback)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mtlops.errors import UserError

        try:
            return func(*args, **kwargs)
        except UserError as err:
            _fail(str(err))
        except FileNotFoundError as err:
            _fail(str(err))

    return wrapper


@contextmanager
def _owning_children(role: str) -> Iterator[Any]:
    """The command owns its child processes (one group, stopped with it); a SIGINT/SIGTERM ends it with
    one line and exit code 128 + the signal, after the children are gone."""
    from mtlops.processes import Interrupted, owned_children

    try:
        with owned_children(role) as group:
            yield group
    except Interrupted as stop:
        typer.secho(f"stopped by {stop}: `mtlops {role}` and its child processes ended", fg=typer.colors.YELLOW,
                    err=True)
        raise typer.Exit(stop.exit_code) from None


def _load(params: Path):
    from mtlops.checks import load_checked
    from mtlops.paths import Paths

    return load_checked(params), Paths.for_params(params)


def _model_ref(params: Path, model: str | None, alias: str = "champion") -> str:
    """`model` as given, else `<project.model_name>@<alias>` read from the params file's project section."""
    if model:
        return model
    from mtlops.config import read_section

    return f"{read_section(params, 'project').model_name}@{alias}"


JsonOpt = Annotated[bool, typer.Option("--json", help="print the whole summary as JSON (for scripts)")]
LINE = 110  # a summary line's width: a terminal's, a Prefect log's


def _print_summary(summary: dict[str, Any], as_json: bool = False, saved: Path | None = None) -> None:
    """A few readable lines (one per key, long values cut), and where the whole JSON went; or the JSON."""
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    for key, value in summary.items():
        typer.echo(_cut(f"{key}: {_brief(value)}"))
    if saved is not None:
        typer.echo(f"whole summary: {saved}")


def _brief(value: Any, depth: int = 0) -> str:
    """`a 1 · b 2` for a mapping, `[n items]` for a long list, the value itself otherwise."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        if depth:
            return "{…}"
        return " · ".join(f"{k} {_brief(v, depth + 1)}" for k, v in value.items()) or "{}"
    if isinstance(value, (list, tuple)):
        return f"[{len(value)} items]" if len(value) > 6 or depth else ", ".join(_brief(v, 1) for v in value)
    return str(value)


def _cut(line: str) -> str:
    return line if len(line) <= LINE else line[: LINE - 2] + " …"


def _save_summary(paths: Any, name: str, summary: dict[str, Any]) -> Path:
    """The stage's whole summary as JSON under .mtlops/summaries/ (git-ignored, rewritten each time)."""
    from mtlops.io import write_json

    path = paths.root / ".mtlops" / "summaries" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, json.loads(json.dumps(summary, default=str)))
    return path


def _stage_command(name: str, doc: str) -> None:
    @user_errors
    def command(params: ParamsOpt = DEFAULT_PARAMS, as_json: JsonOpt = False) -> None:
        from mtlops.stages import run_stage

        cfg, paths = _load(params)
        summary = run_stage(name, cfg, paths)
        _print_summary(summary, as_json, None if as_json else _save_summary(paths, name, summary))

    command.__doc__ = doc
    command.__name__ = name
    app.command(name)(command)


# the stages in pipeline order (`mtlops --help` lists them so); search and promote take options
_stage_command("ingest", "Write the raw snapshot (data/raw/) from the configured source.")
_stage_command("validate", "Validate the raw snapshot with Great Expectations; exit 1 on violations.")
_stage_command("prepare", "Split, fit the preprocessor on train, write data/processed/.")
_stage_command("baselines", "Train the single-task neural and LightGBM baselines per task.")


@app.command()
@user_errors
def search(
    params: ParamsOpt = DEFAULT_PARAMS,
    storage: Annotated[str | None, typer.Option(
        help="Optuna storage URL without a password (a URL with one: MTLOPS_SEARCH_STORAGE)")] = None,
    workers: Annotated[int | None, typer.Option(help="processes running each batch of trials")] = None,
    n_trials: Annotated[int | None, typer.Option(help="trial budget (overrides params)")] = None,
    timeout: Annotated[float | None, typer.Option(help="time budget in seconds (overrides params)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search sharing architecture, task weighting and optimiser with Optuna (resumable)."""
    from mtlops.search.storage import refuse_password_in_argv
    from mtlops.stages import run_stage

    refuse_password_in_argv(storage)
    cfg, paths = _load(params)
    summary = run_stage("search", cfg, paths, storage=storage, workers=workers, n_trials=n_trials, timeout_s=timeout)
    _print_summary(summary, as_json, None if as_json else _save_summary(paths, "search", summary))


_stage_command("grouping", "Choose which tasks share a trunk (all, groups, or alone) on validation.")
_stage_command("train", "Train the multi-task model (with the search's best params when present).")
_stage_command("evaluate", "Score MTL vs baselines on the test split; write reports/metrics.json, summary, plots.")
_stage_command("register", "Log the run to MLflow and register a new model version as `challenger`.")


@app.command()
@user_errors
def promote(
    params: ParamsOpt = DEFAULT_PARAMS,
    version: Annotated[int | None, typer.Option(help="the version to promote (default: the challenger)")] = None,
    force: Annotated[bool, typer.Option(help="skip the gate (needs --reason)")] = False,
    reason: Annotated[str | None, typer.Option(help="why, recorded on the version")] = None,
) -> None:
    """Gate the challenger (or --version) against the champion and baselines; move `champion` if it passes."""
    from mtlops.stages import run_stage

    if force and not reason:
        _fail("--force needs --reason \"...\" (it is recorded on the version)")
    cfg, paths = _load(params)
    result = run_stage("promote", cfg, paths, version=version, force=force, reason=reason)
    _print_promotion(result)


def _print_promotion(result: dict[str, Any]) -> None:
    decision = result.get("decision", "?")
    colour = typer.colors.GREEN if result.get("promoted") else typer.colors.YELLOW
    typer.secho(f"promotion: {decision} (version {result.get('version')})", fg=colour, bold=True)
    for reason in result.get("reasons", []):
        typer.echo(f"  - {reason}")
    if result.get("champion") is not None:
        typer.echo(f"champion: version {result['champion']}")


@app.command()
@user_errors
def rollback(
    reason: Annotated[str, typer.Option(help="why (recorded on the version, with who and when)")],
    params: ParamsOpt = DEFAULT_PARAMS,
) -> None:
    """Move `champion` back to the version it replaced (promote --version N --force, recorded).

    Shows the gate's facts on the way."""
    from mtlops.registry.rollback import rollback as roll_back

    cfg, paths = _load(params)
    result = roll_back(cfg, paths, reason)
    _print_promotion(result)
    typer.echo(f"rolled back from version {result['rollback']['from']} by {result['rollback']['by']}")


@app.command()
@user_errors
def monitor(
    params: ParamsOpt = DEFAULT_PARAMS,
    rows: Annotated[Path | None, typer.Option(help="CSV/Parquet of arriving rows (default: the source's arrival "
                                                 "hook, the days after the champion's cut-off)")] = None,
    cutoff: Annotated[str | None, typer.Option(help="last day of arriving rows (YYYY-MM-DD or YYYY-MM; default: "
                                                  "the champion's cut-off + monitor.window_days)")] = None,
    version: Annotated[int | None, typer.Option(help="the version to check (default: the champion)")] = None,
    events: Annotated[bool | None, typer.Option("--events/--no-events", help="emit the retrain events (default: "
                                                   "when a Prefect API is configured)")] = None,
) -> None:
    """Check the champion on the rows that arrived since its cut-off: drift, realised metrics; exit 0 ok,
    3 drifted, 4 degraded (reports/monitor/report.html, an MLflow run on the version)."""
    from mtlops.orchestration.monitor import check_champion, print_verdict

    result = check_champion(params, rows=rows, cutoff=cutoff, version=version, emit=events)
    print_verdict(result)
    raise typer.Exit(result["exit_code"])


@app.command()
@user_errors
def run(
    params: ParamsOpt = DEFAULT_PARAMS,
    cutoff: Annotated[str | None, typer.Option(
        help="new data arrives first: the last date of data (YYYY-MM-DD, YYYY-MM or auto), for a source with "
        "an arrival hook (flights)")] = None,
    through_dvc: Annotated[
        bool | None,
        typer.Option("--dvc/--no-dvc", help="run stages through `dvc repro` (default: when dvc.yaml is there)"),
    ] = None,
    promote: Annotated[bool, typer.Option(
        "--promote/--no-promote", help="--no-promote: an experiment; register and judge, never move `champion`")
    ] = True,
) -> None:
    """The main job: the Prefect `retrain` flow once; prints the per-task table and the promotion decision."""
    from mtlops.orchestration.retrain import run_retrain

    with _owning_children("run"):
        run_retrain(params_file=params, cutoff=cutoff, through_dvc=through_dvc, promote=promote)


class Keep(StrEnum):
    """Which input columns `mtlops predict` writes before the predictions."""

    all = "all"
    ids = "ids"
    none = "none"


@app.command()
@user_errors
def predict(
    input: Annotated[Path, typer.Option("--input", "-i", help="CSV or Parquet of raw feature rows")],
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV or Parquet to write (by extension)")],
    model: Annotated[str | None, typer.Option(help="name@alias, name/version or models:/ URI")] = None,
    params: ParamsOpt = DEFAULT_PARAMS,
    batch_size: Annotated[int, typer.Option(help="rows per batch")] = 50000,
    keep: Annotated[Keep, typer.Option(
        help="input columns in the output, before the predictions: all (every one, features too), ids "
        "(params' data.key), none", case_sensitive=False)] = Keep.all,
) -> None:
    """Score a file with a registered model (default: the champion of params' model name).

    Writes the input's columns (--keep) and one `pred_<task>…` column per model output.
    """
    from mtlops.paths import Paths
    from mtlops.registry.predict_table import predict_file

    ref, paths = _model_ref(params, model), Paths.for_params(params)
    ids = None
    if keep is Keep.ids:
        from mtlops.config import read_section

        ids = list(getattr(read_section(params, "data"), "key", None) or [])
        if not ids:
            _fail(f"--keep ids: {params} names no id columns (data.key); use --keep all or --keep none")
    result = predict_file(ref, input, output, batch_size=batch_size, paths=paths, keep_columns=ids,
                          keep="all" if keep is Keep.ids else keep.value)
    _print_summary(result)


@app.command("example-request")
@user_errors
def example_request(
    model: Annotated[str | None, typer.Option(help="name@alias, name/version or models:/ URI")] = None,
    params: ParamsOpt = DEFAULT_PARAMS,
    schema: Annotated[bool, typer.Option("--schema", help="print JSON Schemas of an input and an output row")] = False,
) -> None:
    """Print a valid /invocations request (the model's own input example), e.g. for curl -d @-."""
    from mtlops.paths import Paths
    from mtlops.registry.http_app import example_request as build
    from mtlops.registry.http_app import model_schema

    paths, ref = Paths.for_params(params), _model_ref(params, model)
    if schema:
        typer.echo(json.dumps(model_schema(paths, ref), indent=2))
    else:
        typer.echo(json.dumps(build(paths, ref), allow_nan=False))


@app.command()
@user_errors
def lineage(
    model: Annotated[str, typer.Argument(help="name@alias or name/version (name@3 also works)")],
    params: ParamsOpt = DEFAULT_PARAMS,
) -> None:
    """Print how a registered model was made: data, params, code, validation, search, metrics, gate."""
    from mtlops.paths import Paths
    from mtlops.registry.lineage import format_lineage
    from mtlops.registry.lineage import lineage as get_lineage

    typer.echo(format_lineage(get_lineage(model, paths=Paths.for_params(params))))


@app.command()
@user_errors
def serve(
    params: ParamsOpt = DEFAULT_PARAMS,
    alias: Annotated[str, typer.Option(help="the alias to serve")] = "champion",
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 5001,
) -> None:
    """Serve a registered model over HTTP: MLflow's scoring server (POST /invocations), one-line 4xx errors."""
    from mtlops.registry.serve import serve as serve_model

    cfg, paths = _load(params)
    with _owning_children("serve"):
        code = serve_model(paths, cfg.project.model_name, alias=alias, host=host, port=port)
    raise typer.Exit(code)


@app.command()
@user_errors
def simulate(
    start: Annotated[str, typer.Option("--from", help="first month, YYYY-MM")] = "2013-06",
    end: Annotated[str, typer.Option("--to", help="last month, YYYY-MM")] = "2013-12",
    params: ParamsOpt = DEFAULT_PARAMS,
) -> None:
    """Replay monthly retraining, a cut-off a month (flights): per month the challenger's metrics, gate and
    champion; the table and a plot go to reports/simulation.md."""
    from mtlops.orchestration.replay import simulate as run_simulation

    with _owning_children("simulate"):
        run_simulation(params_file=params, start=start, end=end)


@app.command()
@user_errors
def schedule(
    params: ParamsOpt = DEFAULT_PARAMS,
    cron: Annotated[str | None, typer.Option(help="overrides schedule.cron")] = None,
    interval: Annotated[float | None, typer.Option(help="every N seconds instead of the cron (to try it out)")] = None,
    start_server: Annotated[bool, typer.Option("--server/--no-server", help="start a local Prefect server")] = True,
    port: Annotated[int, typer.Option(help="the local Prefect server's port")] = 4200,
) -> None:
    """Start a local Prefect server and serve the `retrain` deployment on params' schedule (cron, timezone);
    Ctrl-C stops both."""
    from mtlops.orchestration.schedule import serve_schedule

    with _owning_children("schedule"):
        code = serve_schedule(params_file=params, cron=cron, interval_s=interval, start_server=start_server, port=port)
    raise typer.Exit(code)


@app.command()
@user_errors
def ui(
    params: ParamsOpt = DEFAULT_PARAMS,
    port: Annotated[int, typer.Option(help="the MLflow UI's port")] = 5000,
    prefect_port: Annotated[int, typer.Option(help="the Prefect UI's (and API's) port")] = 4200,
    prefect: Annotated[bool, typer.Option("--prefect/--no-prefect", help="also serve the Prefect UI")] = True,
) -> None:
    """The MLflow UI and the Prefect UI of this project (its flow runs, kept in .mtlops/prefect); Ctrl-C stops both."""
    from mtlops.orchestration.ui import serve_ui
    from mtlops.paths import Paths

    with _owning_children("ui") as group:
        code = serve_ui(Paths.for_params(params), group, mlflow_port=port, prefect_port=prefect_port, prefect=prefect)
    raise typer.Exit(code)


@app.command("model-name")
@user_errors
def model_name(params: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Print the registered model name from params (for scripts)."""
    from mtlops.config import read_section

    typer.echo(read_section(params, "project").model_name)


@app.command("check")
@user_errors
def check(params: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Validate a params file: schema, the data's columns, and every check a later stage makes on the config."""
    from mtlops.checks import preflight
    from mtlops.data.sources import source_of

    cfg, paths = _load(params)
    device = preflight(cfg, str(params))
    aux = [t.name for t in cfg.tasks if t.role == "auxiliary"]
    tasks = f"{len(cfg.target_tasks)} tasks: {', '.join(cfg.target_names)}"
    tasks += f"; auxiliary: {', '.join(aux)}" if aux else ""
    typer.secho(f"{params}: ok ({tasks}; root {paths.root}; "
                f"data {source_of(cfg).origin(cfg)}; device {device})", fg=typer.colors.GREEN)


stack_app = typer.Typer(help="The local team stack on 127.0.0.1: PostgreSQL, MLflow server, Prefect server.",
                        no_args_is_help=True)
app.add_typer(stack_app, name="stack")
StackDirOpt = Annotated[Path, typer.Option("--dir", help="where the stack keeps its data, logs and credentials")]
DEFAULT_STACK_DIR = Path(".stack")


@stack_app.command("up")
@user_errors
def stack_up(directory: StackDirOpt = DEFAULT_STACK_DIR) -> None:
    """Start PostgreSQL, MLflow (basic-auth, artifact proxying) and Prefect (auth string, process work pool)."""
    from mtlops.stack.services import StackDir, status, up

    d = StackDir(directory.resolve())
    up(d)
    for name, state in status(d).items():
        typer.echo(f"{name}: {state}")
    typer.echo(f'credentials: {d.credentials} (load them with: eval "$(mtlops stack env)")')


@stack_app.command("down")
@user_errors
def stack_down(directory: StackDirOpt = DEFAULT_STACK_DIR) -> None:
    """Stop the servers and PostgreSQL; the data stays for the next `up`."""
    from mtlops.stack.services import StackDir, down

    for note in down(StackDir(directory.resolve())):
        typer.echo(note, err=True)
    typer.echo("stack: down")


@stack_app.command("status")
@user_errors
def stack_status(directory: StackDirOpt = DEFAULT_STACK_DIR) -> None:
    """Which parts of the stack run, and where; exit 1 unless all do."""
    from mtlops.stack.services import StackDir, status

    states = status(StackDir(directory.resolve()))
    for name, state in states.items():
        typer.echo(f"{name}: {state}")
    if any(state == "down" for state in states.values()):
        raise typer.Exit(1)


@stack_app.command("env")
@user_errors
def stack_env(directory: StackDirOpt = DEFAULT_STACK_DIR) -> None:
    """Print the exports that point MLflow, Prefect and the search at the stack (with its credentials)."""
    import shlex

    from mtlops.stack.services import StackDir, environment

    for key, value in environment(StackDir(directory.resolve())).items():
        typer.echo(f"export {key}={shlex.quote(value)}")


if __name__ == "__main__":  # pragma: no cover
    app()
