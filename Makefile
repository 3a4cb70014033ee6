# The environment lives in .venv; every target creates it when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean lint install

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[durable,test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m cli demo

# Three workers on two cores: most tests wait on a subprocess, a socket or a backoff, and a third
# worker keeps the cores busy meanwhile (measured on two cores: 3:28, where two workers took 4:38).
test: $(STAMP)
	$(BIN)/python -m pytest -n 3

# ruff, then mypy (pyproject.toml, [tool.mypy]): strict on rules/ and mappings/; connector/ and cli.py
# with the defaults and unannotated bodies checked. Both must report nothing.
lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy rules mappings connector cli.py

# revsync on PATH for this user, isolated from every other Python program: pipx when it is
# installed, else a virtual environment of its own under $(PREFIX)/share/revsync, linked from
# $(PREFIX)/bin. Installing again replaces it.
PREFIX ?= $(HOME)/.local
install:
	@if command -v pipx >/dev/null 2>&1; then \
		pipx install --force . ; \
	else \
		$(PYTHON) -m venv --clear $(PREFIX)/share/revsync/venv && \
		$(PREFIX)/share/revsync/venv/bin/python -m pip install --quiet --upgrade pip && \
		$(PREFIX)/share/revsync/venv/bin/python -m pip install --quiet . && \
		mkdir -p $(PREFIX)/bin && \
		ln -sf $(PREFIX)/share/revsync/venv/bin/revsync $(PREFIX)/bin/revsync && \
		echo "installed $(PREFIX)/bin/revsync"; \
	fi
	@case ":$$PATH:" in *":$(PREFIX)/bin:"*) ;; *) echo "add $(PREFIX)/bin to PATH to run revsync by name";; esac

bench: $(STAMP)
	$(BIN)/python -m pytest -m bench -s -p no:cacheprovider tests/bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache
