# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PACKAGES := -e '.[test]' -e ./tap-cliniko -e ./target-pipedrive -e ./transforms

.PHONY: install test lint demo clean

$(STAMP): pyproject.toml tap-cliniko/pyproject.toml target-pipedrive/pyproject.toml transforms/pyproject.toml meltano.yml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PACKAGES)
	cd . && $(VENV)/bin/meltano install
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(VENV)/bin/ruff check .

test: install lint
	$(PY) -m pytest

demo: install
	$(PY) scripts/demo.py

clean:
	rm -rf $(VENV) .meltano output
