# The two commands of the README: `make demo` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test unit integration lint crds cluster-up down clean venv system-deps bench bench-backup

venv: $(STAMP)

# Reinstall when the pinned dependencies change.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) is required (Python 3.11+)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check pip==25.3
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# PostgreSQL server binaries for the backup tool's tests and the demo's real backup (Debian packages;
# root or sudo).
system-deps:
	@hack/system-deps.sh

demo: venv system-deps
	@hack/demo.sh

test: venv system-deps lint
	$(BIN)/pytest -q tests

unit: venv
	$(BIN)/pytest -q tests/unit

integration: venv
	$(BIN)/pytest -q tests/integration

lint: venv
	$(BIN)/ruff check operator tests hack
	$(BIN)/mypy

crds: venv
	$(BIN)/python -m odoo_tenant_operator.api.crd > crds/odootenants.hosting.odoo-operator.io.yaml

cluster-up: venv
	@hack/cluster.sh up

bench: venv
	$(BIN)/python hack/bench_reconcile.py

bench-backup: venv system-deps
	$(BIN)/python hack/bench_backup.py --workdir /var/tmp

down:
	@hack/demo.sh stop-operator
	@hack/cluster.sh down

clean: down
	rm -rf .local
