# Two commands a newcomer needs: `make run` and `make test`. Both build .venv from the pinned set.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
export MLFLOW_DISABLE_TELEMETRY=true
export MLFLOW_ENABLE_TELEMETRY=false
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export GX_ANALYTICS_ENABLED=false
export DVC_NO_ANALYTICS=1
export DO_NOT_TRACK=1

.PHONY: install install-dev run test lint test-faults serve serve-model ui stack-up stack-down lock clean

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24" wheel

# the runtime set; reinstalls only when the pins or the package metadata change
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install --quiet -c constraints.txt -e ".[dev,examples]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## the main job: the retrain flow once on params.yaml (flights), embedded stores
run: install
	$(BIN)/mtlops run

## the test suite (the slow fault-injection and end-to-end cases are in test-faults)
# pytest's "no tests collected" (exit 5: a marker typo, a moved folder) fails like any failure
test: install-dev
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not faults_slow" tests

## ruff (rules and why: pyproject's [tool.ruff.lint]) and mypy (pydantic plugin) on src/; both must be clean
lint: install-dev
	$(BIN)/ruff check src tests benchmarks flows
	$(BIN)/mypy

## the slow cases: real processes killed at every stage, restarts of the Prefect server, the work pool path
test-faults: install-dev
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m faults_slow tests

## a local Prefect server and the scheduled `retrain` deployment (Ctrl-C or SIGTERM stops both);
## SERVE_ARGS passes options, e.g. make serve SERVE_ARGS="--interval 120 --port 4300"
serve: install
	$(BIN)/mtlops schedule $(SERVE_ARGS)

## serve the champion over HTTP on 127.0.0.1:5001
serve-model: install
	$(BIN)/mtlops serve --alias champion --port 5001

## the local team stack under .stack/ (PostgreSQL, MLflow and Prefect servers on 127.0.0.1, with auth);
## then: eval "$$(.venv/bin/mtlops stack env)" points mtlops, MLflow and Prefect at it
stack-up: install
	$(BIN)/mtlops stack up

stack-down: install
	$(BIN)/mtlops stack down

## the MLflow UI (http://127.0.0.1:5000) and this project's Prefect UI (http://127.0.0.1:4200); Ctrl-C stops both
ui: install
	$(BIN)/mtlops ui $(UI_ARGS)

## refresh the pinned set: resolve pyproject's ranges anew in a scratch venv, then test, then commit
lock:
	rm -rf .lock-venv && $(PY) -m venv .lock-venv && .lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e ".[dev,examples]"
	.lock-venv/bin/pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu/torch==\1/' > constraints.txt
	rm -rf .lock-venv
	@echo "constraints.txt refreshed: run 'make test' before committing it"

clean:
	rm -rf $(VENV) .pytest_cache
