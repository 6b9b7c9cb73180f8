# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# A second environment without TensorFlow (the Grain input path), for the test that proves a
# JAX-only host prepares, trains, resumes, evaluates and restores.
NOTF_VENV := .venv-notf

.PHONY: demo study test lint format install clean-demo real-audio

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,metrics,tf]'
	touch $@

$(NOTF_VENV)/.installed: pyproject.toml
	test -x $(NOTF_VENV)/bin/python || $(PYTHON) -m venv $(NOTF_VENV)
	$(NOTF_VENV)/bin/python -m pip install -q --upgrade pip
	$(NOTF_VENV)/bin/python -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# The real recordings are Debian packages (restoration/evaluate/real_audio.py names them). As
# root with apt-get (CI, a fresh container) demo and test install them first; otherwise they
# skip this and the demo leaves them out of its report.
REAL_AUDIO_IF_ROOT := $(shell [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && echo real-audio)
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends

# Package lists are refreshed only when the first attempt fails (empty or stale on a fresh machine).
real-audio: $(VENV)/.installed
	@missing="$$($(PY) -m restoration.evaluate.real_audio --packages)" || exit 1; \
	if [ -z "$$missing" ]; then echo "real-audio: all packages installed"; exit 0; fi; \
	echo "real-audio: installing $$missing"; \
	$(APT_INSTALL) $$missing || { apt-get update && $(APT_INSTALL) $$missing; }

demo: $(VENV)/.installed $(REAL_AUDIO_IF_ROOT)
	$(PY) -m restoration.demo

# Table 1's stability, noise handling, learning curves and diversity (restoration/study).
study: $(VENV)/.installed
	$(PY) -m restoration.study

test: lint $(REAL_AUDIO_IF_ROOT) $(NOTF_VENV)/.installed
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
