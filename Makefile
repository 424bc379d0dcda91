# The README's commands. Each target installs what it needs on first use (infra/bootstrap.sh).
# PYTHON: the interpreter (command, path or pyenv version: python3.13, 3.12); VENV: its venv.
PYTHON ?= python3
VENV  ?= .venv
STAMP := $(VENV)/.mlgate-installed
BIN   := $(VENV)/bin

.PHONY: setup demo test lint typecheck unit unit-fast bench clean
.DEFAULT_GOAL := help

help:
	@echo "make demo   - set up (first run) and run the mlgate demo"
	@echo "make test   - set up (first run) and run lint, type checks and the test suite"

$(STAMP): pyproject.toml constraints.txt infra/bootstrap.sh $(wildcard plugins/*/pyproject.toml)
	PYTHON=$(PYTHON) VENV=$(VENV) bash infra/bootstrap.sh
	@touch $@

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/mlgate demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench flows plugins
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy
	cd plugins/mlflow-registry-guard && ../../$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider

test: lint typecheck unit

# The fast subset (no MLflow or Prefect server; moto S3 on 127.0.0.1 is fine): CI runs it on the
# newest Python (docs/ci.md), e.g. make PYTHON=python3.13 VENV=.venv-py313 unit-fast
FAST_TESTS := tests/core tests/model_scan tests/data_quality tests/s3_audit tests/ci
unit-fast: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider -m "not slow" $(FAST_TESTS)

bench: $(STAMP)
	$(BIN)/python bench/bench_scan.py

clean:
	rm -rf $(VENV) .venv-py3* .work .pytest_cache .mypy_cache .ruff_cache
