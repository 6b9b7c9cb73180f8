# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test install clean-demo

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,metrics]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) -m restoration.demo

test: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 tests

clean-demo:
	rm -rf runs/demo
