# Two entry points that work on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test unit lint bench clean

$(BIN)/tokenworks: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/tokenworks

# The product, on its embedded DuckDB store (var/tokenworks.duckdb, per registry.toml).
run: install
	@$(BIN)/tokenworks plugins
	@echo
	@$(BIN)/tokenworks functions
	@echo
	@echo "tokenworks is installed in $(VENV). Try:"
	@echo "  $(BIN)/tokenworks users add alice            # prints a one-time password"
	@echo "  $(BIN)/tokenworks tokens grant alice 10 --reason 'first grant'"
	@echo "  $(BIN)/tokenworks call word_frequencies --user alice --input '{\"text\": \"data data engineer\"}'"
	@echo "  $(BIN)/tokenworks call analyze_job_title --user alice --input '{\"title\": \"Sr. Data Scientist\"}'"
	@echo "  $(BIN)/tokenworks tokens history alice && $(BIN)/tokenworks ledger verify"

lint: install
	$(BIN)/ruff check .

# Everything CI runs: lint, then the whole suite (unit, concurrency, crash).
test: lint
	$(BIN)/pytest -q

# The fast part, for the edit-test loop.
unit: install
	$(BIN)/pytest -q -m "not slow"

bench: install
	$(BIN)/python bench/metering.py
	$(BIN)/python bench/discovery.py

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache .ruff_cache
