# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint format install clean-demo

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,metrics]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) -m restoration.demo

test: lint
	$(PY) -m pytest -q -n 2 tests

# One style (ruff, configured in pyproject.toml): `make format` rewrites, `make lint` checks.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean-demo:
	rm -rf runs/demo
