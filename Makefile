# cookiecutter-mlops: two commands on a fresh machine (Python 3.11+, git, make).
#   make demo   generate a project with the defaults and run its main job end to end
#   make test   the template's tests (slow end-to-end ones included; PYTEST_ARGS=--fast skips them)
#               first installs Debian's chromium for the browser tests where it can (root and apt-get)
.DEFAULT_GOAL := help
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
# uv from PATH, else the copy `make uv` installs for this Python with pip.
UV := $(or $(shell command -v uv 2>/dev/null),$(PYTHON) -m uv)
# Precompiled bytecode: imports (bentoml, pandas, sklearn) start 2-3x faster.
export UV_COMPILE_BYTECODE := 1
DEMO_DIR := demo
PYTEST_ARGS ?=
APT_INSTALL := DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes \
  apt-get install -y -qq --no-install-recommends chromium

.PHONY: help uv install browser demo test lint lock bench clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

uv: ## Install uv with pip if it is missing
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv || $(PYTHON) -m pip install --quiet --user uv \
	  || { echo "could not install uv with pip: install it yourself (https://docs.astral.sh/uv/) and re-run" >&2; exit 2; }

install: uv ## The template's own tools in .venv (cookiecutter, pytest, ruff), from uv.lock
	$(UV) sync --locked

browser: ## Debian's chromium for the browser tests, with apt-get as root, unless it is there (else they skip)
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && { $(APT_INSTALL) || { apt-get update -qq && $(APT_INSTALL); }; } >/dev/null; } \
	  || echo "chromium is not installed (needs root and apt-get): the browser tests will skip" >&2

demo: install ## Generate a project into demo/ and run it: train (gate), predict, build, serve, query, drift, docs, CI rehearsal
	UV="$(UV)" scripts/demo.sh "$(DEMO_DIR)"

test: install browser ## Run the template's tests
	$(UV) run --locked pytest $(PYTEST_ARGS)

lint: install ## ruff on the template's own code (hooks, tests, scripts)
	$(UV) run --locked ruff check hooks tests scripts
	$(UV) run --locked ruff format --check hooks tests scripts

lock: install ## Re-lock the generated project's dependencies, its uv.lock (UPGRADE=1: the newest versions)
	UV="$(UV)" UPGRADE="$(UPGRADE)" $(UV) run --locked python scripts/lock.py

bench: install ## Print timings: generate-to-green and the whole demo (warm package cache)
	UV="$(UV)" $(UV) run --locked python scripts/benchmark.py

clean: ## Remove generated demo and benchmark projects
	rm -rf demo .bench image-smoke .pytest_cache .ruff_cache
