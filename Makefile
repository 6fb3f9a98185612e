# The two commands of the README. Both create .venv if it is missing and install the project into it.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER := 0
export RAY_AUTH_MODE := disabled
export MLFLOW_DISABLE_TELEMETRY := true
export RAY_USAGE_STATS_ENABLED := 0

.PHONY: quickstart test test-faults test-fast lint install clean

$(PY):
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

# Re-install only when the dependency pins change; the editable install picks up code changes.
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

quickstart: install
	$(VENV)/bin/prunetune run quickstart

# Everything but the fault-injection suite (~8 min more), which CI runs as its own step.
test: install
	$(PY) -m pytest -q -m "not faults"

test-faults: install
	$(PY) -m pytest -q -m faults

test-fast: install
	$(PY) -m pytest -q -m "not slow and not integration"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf prunetune-runs .pytest_cache
