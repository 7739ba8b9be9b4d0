# Two entry points that work on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test unit lint bench clean

# The external example plugins in examples/ are not part of the product's install, but
# the tests prove they install with pip and are found through their entry points. They
# build with the setuptools the test extras bring (--no-build-isolation: no download).
EXAMPLES := $(wildcard examples/*/pyproject.toml)

$(BIN)/tokenworks: pyproject.toml $(EXAMPLES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(foreach project,$(EXAMPLES),$(BIN)/pip install --quiet --no-build-isolation -e $(dir $(project)) &&) true
	touch $@

install: $(BIN)/tokenworks

# The product, on its embedded DuckDB store (var/tokenworks.duckdb, per registry.toml):
# both portals at http://127.0.0.1:8501. On the first start the server creates the admin
# user `admin` and prints its password once (or takes $TOKENWORKS_ADMIN_PASSWORD).
HOST ?= 127.0.0.1
PORT ?= 8501
run: install
	@echo "Starting tokenworks: open http://$(HOST):$(PORT) and sign in (or create an account)."
	@echo "First start: the admin password is printed below once; Ctrl+C stops the server."
	@$(BIN)/tokenworks serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .

# Everything CI runs: lint, then the whole suite (unit, concurrency, crash).
test: lint
	$(BIN)/pytest -q
	$(foreach project,$(EXAMPLES),(cd $(dir $(project)) && $(abspath $(BIN))/pytest -q -p no:cacheprovider) &&) true

# The fast part, for the edit-test loop.
unit: install
	$(BIN)/pytest -q -m "not slow"

bench: install
	$(BIN)/python bench/metering.py
	$(BIN)/python bench/discovery.py
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache .ruff_cache
