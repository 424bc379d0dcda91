# The README's commands. Each target installs what it needs on first use (infra/bootstrap.sh).
VENV  := .venv
STAMP := $(VENV)/.mlgate-installed
BIN   := $(VENV)/bin

.PHONY: setup demo test lint typecheck unit bench clean
.DEFAULT_GOAL := help

help:
	@echo "make demo   - set up (first run) and run the mlgate demo"
	@echo "make test   - set up (first run) and run lint, type checks and the test suite"

$(STAMP): pyproject.toml constraints.txt infra/bootstrap.sh $(wildcard plugins/*/pyproject.toml)
	bash infra/bootstrap.sh
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

bench: $(STAMP)
	$(BIN)/python bench/bench_scan.py

clean:
	rm -rf $(VENV) .work .pytest_cache .mypy_cache .ruff_cache
