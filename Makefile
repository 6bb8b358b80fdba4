# Socle — every target installs what it needs first (idempotent).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export SOCLE_HOME ?= $(CURDIR)/data

.PHONY: install demo run test lint unit airflow dags bench clean

install: $(STAMP)

# The lock pins every transitive version we tested; the project itself is installed
# editable without dependencies so the lock stays the single source of versions.
$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: install
	$(BIN)/socle demo

run: install
	$(BIN)/socle run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd dbt_project && ../$(BIN)/sqlfluff lint models

test: lint
	$(BIN)/python -m pytest

unit: install
	$(BIN)/python -m pytest -m "not integration and not e2e"

airflow: install
	$(BIN)/socle airflow

dags: install
	$(BIN)/socle airflow-cli dags list

# Benchmarks print figures and assert nothing: SCALE=S|M|L (docs/benchmarks.md).
SCALE ?= S
bench: install
	$(BIN)/socle bench --scale $(SCALE) $(if $(REUSE),--reuse-landing)

clean:
	rm -rf $(SOCLE_HOME) dbt_project/target dbt_project/logs
