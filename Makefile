# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PACKAGES := -e '.[test]' -e ./tap-cliniko -e './target-pipedrive[postgres]' -e ./transforms

.PHONY: install test lint demo bench clean private

# Owner-only folders, made before anything is written in them: output/ (per environment: crosswalk,
# reports, attachments, the DuckDB file - patient data) and .meltano/ (Meltano's run-config files hold the
# API key and token, and stay on disk after a SIGKILL). Nobody else can enter a 0700 folder, so no file
# below it is reachable whatever its own mode: Meltano and target-duckdb create theirs 0644 and cannot be
# told otherwise, while our plugins create theirs 0600 (their umask). A folder's mode is checked at every
# make command, so a clone made before this rule is tightened too. target-duckdb does not create its folder.
PRIVATE_DIRS := .meltano output output/sandbox output/prod
private:
	@mkdir -p $(PRIVATE_DIRS) && chmod 700 $(PRIVATE_DIRS)

$(STAMP): pyproject.toml tap-cliniko/pyproject.toml target-pipedrive/pyproject.toml transforms/pyproject.toml meltano.yml | private
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PACKAGES)
	cd . && $(VENV)/bin/meltano install
	touch $(STAMP)

install: private $(STAMP)

lint: install
	$(VENV)/bin/ruff check .

# Two pytest workers (pytest-xdist): most of the suite waits on sandboxes and subprocesses, so two at a time halve
# its time on a 2-CPU machine; each test has its own sandboxes, ports, folders and Meltano system folder.
# `make test TEST_WORKERS=0` runs it in one process.
TEST_WORKERS ?= 2
test: install lint browser postgres
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal

# Headless Chromium for the HTML report tests and a PostgreSQL server for the crosswalk's tests (the tests
# start their own, on loopback in a temporary folder): Debian's packages, installed as root (as CI runs);
# `apt-get update` only when the install fails without it.
CHROMIUM := /usr/bin/chromium
APT_INSTALL = DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1) >/dev/null
NEEDS_ROOT = test "$$(id -u)" = 0 || { echo "Installing $(1) needs root: run 'apt-get install $(1)' as root, then make test." >&2; exit 1; }

.PHONY: browser postgres
browser: $(CHROMIUM)

$(CHROMIUM):
	@$(call NEEDS_ROOT,chromium)
	$(call APT_INSTALL,chromium) || { apt-get update -qq && $(call APT_INSTALL,chromium); }

postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { $(call NEEDS_ROOT,postgresql); \
	  $(call APT_INSTALL,postgresql) || { apt-get update -qq && $(call APT_INSTALL,postgresql); }; }

demo: install
	$(PY) scripts/demo.py

# Rates against the real limits, the machinery's own cost, memory and the projected wall time
# (about 15 minutes; the first run also generates the large clinic). Writes bench/results.json and .md.
bench: install
	$(PY) -m bench

# The long reliability runs `make test` skips (about 15 minutes): the whole `meltano run` and the rollback
# SIGKILLed at 26 more seeded points and re-run, and three migrations under heavier faults with sandbox restarts.
.PHONY: soak
soak: install
	SOAK=1 $(PY) -m pytest tests/reliability -m soak -s --durations=0

clean:
	rm -rf $(VENV) .meltano output
