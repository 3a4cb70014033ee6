# The environment lives in .venv; every target creates it when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean lint

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[durable,test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m cli demo

# One worker per core: the suite is mostly subprocesses and SQLite files in temporary folders.
test: $(STAMP)
	$(BIN)/python -m pytest -n auto

# ruff, then mypy (pyproject.toml, [tool.mypy]): strict on rules/ and mappings/; connector/ and cli.py
# with the defaults and unannotated bodies checked. Both must report nothing.
lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy rules mappings connector cli.py

bench: $(STAMP)
	$(BIN)/python -m pytest -m bench -s -p no:cacheprovider tests/bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache
