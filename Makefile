# Quick start: `make demo` and `make test`. Both create/refresh .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench lint format clean screenshots

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/couponlens demo --out demo

# The tests plus every runnable example in the docstrings of src/.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q --doctest-modules src/couponlens tests

# The docs' screenshots (docs/images), taken by the browser test from a fresh demo site.
screenshots: $(STAMP)
	COUPONLENS_SCREENSHOTS=docs/images $(BIN)/python -m pytest -q tests/report/test_browser.py -k renders

# Every benchmark, one after the other (figures go to docs/benchmarks.md by hand).
bench: $(STAMP)
	$(BIN)/python -m bench.o2o_analysis
	$(BIN)/python -m bench.o2o_model
	$(BIN)/python -m bench.amexpert_model
	$(BIN)/python -m bench.experiment_report
	$(BIN)/python -m bench.customers_report
	$(BIN)/python -m bench.service_load

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache
