# Two commands on a fresh clone: `make demo` and `make test`. Both run `make setup` first, which creates or
# updates .venv from the pinned versions in constraints.txt only when they changed (a stamp file), installs
# the plugin in editable mode and registers its algorithms with NNI (idempotent).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.effnas-installed

.PHONY: setup demo test test-fast bench-search table clean

setup: $(STAMP)
	@$(BIN)/nni-effnas register --quiet

$(STAMP): constraints.txt pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt 'setuptools<81' wheel
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $(STAMP)

demo: setup
	$(BIN)/nni-effnas demo

test: setup
	$(BIN)/python -m pytest -q tests

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow" tests

bench-search: setup
	$(BIN)/nni-effnas bench search --space nb201 --dataset cifar10 --strategies random,evolution,nni-tpe,nni-evolution \
		--seeds 100 --budget-frac 1.0 --json bench-out/search-cifar10.json --plot bench-out/search-cifar10.png

# Rebuild the shipped NAS-Bench-201 table from ../shared/data (developers only).
table:
	$(BIN)/python scripts/build_nb201_table.py

clean:
	rm -rf $(VENV) build *.egg-info bench-out
