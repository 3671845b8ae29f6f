# HHS social media data platform. `make help` lists every command.
SHELL := /bin/bash
# The first Python 3.12 that really runs (a pyenv shim may exist without the version selected).
PYTHON ?= $(shell for p in python3.12 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
# pytest-xdist: one test process per core, at most 2, as validated (PYTEST_WORKERS= runs them in one)
# (three processes measured no faster: docs/performance.md, "Fourth round" of the test suite)
PYTEST_WORKERS ?= -n auto --maxprocesses=2
STAMP := $(VENV)/.installed
# uv installs the exact versions (and hashes) of uv.lock; `make lock` re-resolves it.
# --compile-bytecode: every process (CLI, Dask worker, Prefect server, test) then imports the stack
# from .pyc files. Without them, and with PYTHONDONTWRITEBYTECODE set as on the CI machines, each
# process compiled pandas, Prefect, Dask... from source again: `import flows.collect` took 21 s
# instead of 6 s (docs/performance.md, "Bytecode").
UV_VERSION := 0.13.9
UV := UV_PYTHON_DOWNLOADS=never $(BIN)/uv

.DEFAULT_GOAL := help
.PHONY: help venv demo demo-check test test-fast lint format typecheck serve docs docs-serve sandbox collect deploy browser nginx clean bench-dashboards bench-capacity bench-scale bench-api bench bench-pipeline bench-collection bench-incremental bench-extra lock audit security secrets-baseline

help: ## List every command
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/uv:
	@test -n "$(PYTHON)" || { echo "Python 3.12 not found: install it or run 'make PYTHON=/path/to/python3.12'"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock Makefile $(BIN)/uv
	$(UV) export --locked --extra dev --no-emit-project --quiet -o $(VENV)/requirements.lock.txt \
		|| { echo "uv.lock does not match pyproject.toml: run 'make lock' and commit uv.lock"; exit 1; }
	$(UV) pip install --python $(BIN)/python -q --compile-bytecode --require-hashes -r $(VENV)/requirements.lock.txt
	$(UV) pip install --python $(BIN)/python -q --compile-bytecode --no-deps -e .
	touch $(STAMP)

venv: $(STAMP) ## Create .venv with the package and its dev tools, at the versions of uv.lock
	@$(BIN)/python -m compileall -q hhs_platform schemas flows tests benchmarks tools >/dev/null

lock: | $(BIN)/uv ## Update uv.lock after editing pyproject.toml's dependencies (UPGRADE=1: newest allowed versions)
	$(UV) lock --python $(BIN)/python $(if $(UPGRADE),--upgrade)

audit: venv ## Check every locked dependency for known vulnerabilities (pip-audit; see SECURITY.md)
	$(BIN)/python tools/security_checks.py audit

security: venv ## The security checks of `make test`: lock current, no new secret, no vulnerable dependency
	$(BIN)/python tools/security_checks.py

secrets-baseline: venv ## Rescan for secrets into .secrets.baseline, keeping reviews; review new entries after
	$(BIN)/python tools/security_checks.py baseline

browser: ## Install Debian's chromium for the browser tests (needs root and apt)
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

nginx: ## Install Debian's nginx for the reverse-proxy tests (needs root and apt)
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }

demo: venv ## Set up, collect from the simulated platforms through Prefect on Dask, serve dashboards + Prefect UI
	$(BIN)/hhs demo

demo-check: venv ## The demo without serving: runs once and stops everything it started
	$(BIN)/hhs demo --no-serve

test: venv browser nginx ## Set up and run the whole test suite (lint, types, unit, integration, end-to-end)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python tools/security_checks.py
	$(BIN)/python -m pytest $(PYTEST_WORKERS)

test-fast: venv ## Tests without the slow end-to-end ones
	$(BIN)/python -m pytest $(PYTEST_WORKERS) -m "not slow"

lint: venv ## ruff lint and format check
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: venv ## Format the code with ruff
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

typecheck: venv ## mypy on the package
	$(BIN)/mypy

collect: venv ## Run the collection flow against the configured APIs (HHS_* settings)
	$(BIN)/hhs collect

deploy: venv ## Schedules on the Prefect server at PREFECT_API_URL: work pool, queues, limits, prefect.yaml
	$(BIN)/hhs deploy

serve: venv ## Serve the dashboards over the lake
	$(BIN)/hhs serve

docs: venv ## Build the documentation site into site/ (warnings are errors)
	$(BIN)/python -m mkdocs build --strict

docs-serve: venv ## Serve the documentation site on http://127.0.0.1:8000 with live reload
	$(BIN)/python -m mkdocs serve

sandbox: venv ## Serve the simulated platforms on port 8765
	$(BIN)/hhs sandbox serve --port 8765 --seed 7

bench-dashboards: venv browser ## Benchmark every dashboard on a large synthetic lake (SCALE=large|medium|small)
	$(BIN)/python -m benchmarks.dashboards --scale $(or $(SCALE),large) --profile

bench-capacity: venv ## Measure storage, requests and API quota per account on simulated days (DAYS=7 HOURS=4)
	$(BIN)/python -m benchmarks.capacity --days $(or $(DAYS),7) --hours $(or $(HOURS),4)

bench-scale: venv ## The same collection on 1, 2 and 4 Dask workers: wall time, speed-up (WORKERS=1,2,4 ROUNDS=1)
	$(BIN)/python -m benchmarks.scale_out $(if $(WORKERS),--workers $(WORKERS)) --rounds $(or $(ROUNDS),1)

bench-api: venv ## HTTP API latency under concurrent load on a 10x lake: p50/p95/p99 per endpoint (SCALE=large CLIENTS=4 ROUNDS=2)
	$(BIN)/python -m benchmarks.api_latency --scale $(or $(SCALE),large) --clients $(or $(CLIENTS),4) --rounds $(or $(ROUNDS),2)

bench-pipeline: venv ## The CPU-bound pipeline against bare/naive/dlt scripts, and on 1, 2, 4 Dask workers with peak memory (ACCOUNTS=3000 WORKERS=1,2,4)
	$(BIN)/python -m benchmarks.pipeline --accounts $(or $(ACCOUNTS),3000) $(if $(WORKERS),--workers $(WORKERS)) --profile

bench: bench-collection bench-pipeline bench-incremental bench-dashboards bench-api ## Every scale target of docs/performance.md, one after another (about two hours; results in benchmarks/results/)

bench-collection: venv ## Network-bound collection of 3,000 accounts against the documented rate limits: wall / lower bound (ACCOUNTS=3000 SCALE=10)
	$(BIN)/python -m benchmarks.collection --accounts $(or $(ACCOUNTS),3000) --time-scale $(or $(SCALE),10)

bench-incremental: venv ## A daily run into an empty lake and into one holding 10 M observations: cost ratio (ROWS=10000000 ACCOUNTS=300)
	$(BIN)/python -m benchmarks.incremental --rows $(or $(ROWS),10000000) --accounts $(or $(ACCOUNTS),300)

bench-extra: venv ## Install the benchmark baselines (the bench extra: dlt, pandas, requests) at uv.lock's versions
	$(UV) export --locked --extra bench --no-emit-project --quiet -o $(VENV)/requirements.bench.txt
	$(UV) pip install --python $(BIN)/python -q --require-hashes -r $(VENV)/requirements.bench.txt

clean: ## Remove the virtualenv, caches and the local lake
	rm -rf $(VENV) lake .pytest_cache .mypy_cache .ruff_cache
