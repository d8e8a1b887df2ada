# Offload: every target sets up what it needs (.venv, packages, migrations) on a fresh machine.
PYTHON ?= python3.11
VENV ?= .venv
# Django 6.1 runs on Python 3.12 (requirements.txt picks Django by the Python version): pyenv's.
PYTHON_DJANGO6 ?= $(shell command -v pyenv >/dev/null \
	&& echo "$$(pyenv root)/versions/$$(pyenv latest 3.12)/bin/python3.12" || echo python3.12)
BIN := $(VENV)/bin
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help run serve worker static test test-django6 test-fast fuzz conformance conformance-tasks bench-smoke chaos lint format typecheck check bench clean migrate browser

help:  ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

migrate: $(BIN)/.installed  ## Apply database migrations (and create the limits' cache table)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createcachetable

run: migrate  ## Start embedded Redis + web (http://127.0.0.1:8000) + worker; Ctrl-C stops all
	$(BIN)/honcho start

static: $(BIN)/.installed  ## Collect static files for the production web server (servestatic)
	@$(BIN)/python manage.py collectstatic --noinput -v0

serve: static  ## Production web: gunicorn (ASGI worker) on PORT (8000), settings from the environment
	@$(BIN)/gunicorn --config config/gunicorn.conf.py

worker: $(BIN)/.installed  ## Production worker: WORKER_PROCESSES x WORKER_THREADS (2 x 8)
	@$(BIN)/python manage.py run_workers -- --processes $${WORKER_PROCESSES:-2} --threads $${WORKER_THREADS:-8}

test: $(BIN)/.installed  ## Run the whole test suite (embedded Redis; no services needed)
	$(BIN)/pytest

test-django6:  ## The whole suite and Django's tests/tasks on Django 6.1 + Python 3.12 (.venv-django6)
	$(MAKE) test conformance-tasks PYTHON=$(PYTHON_DJANGO6) VENV=.venv-django6

test-fast: $(BIN)/.installed  ## The tests that start no worker, browser or server (under a minute)
	$(BIN)/pytest -m "not integration and not browser" -q

fuzz: $(BIN)/.installed  ## A long fuzz of every endpoint and admin list (FUZZ_EXAMPLES per test, 1000)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-1000} $(BIN)/pytest tests/test_fuzz_inputs.py -q

conformance: $(BIN)/.installed  ## Dramatiq's own test suite on the project's brokers (tests/conformance)
	$(BIN)/python -m tests.conformance.run -q

conformance-tasks: $(BIN)/.installed  ## Django's own tests/tasks on OffloadBackend with a real worker
	$(BIN)/python -m tests.conformance.tasks_run -q

lint: $(BIN)/.installed  ## ruff: formatting and lint rules, checked
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(BIN)/.installed  ## ruff: format and fix what it can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(BIN)/.installed  ## mypy with django-stubs
	$(BIN)/mypy .

check: lint typecheck  ## Django checks, migrations up to date, lint, typecheck
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

bench: $(BIN)/.installed  ## Quick benchmarks: enqueue and worker throughput ratios (bench/README.md)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/worker_throughput.py --jobs 2000 --rounds 3 --workers 1x8

bench-smoke: $(BIN)/.installed  ## Every bench/ script once at a tiny size (CI; PostgreSQL ones need DATABASE_URL)
	$(BIN)/python bench/smoke.py

chaos: $(BIN)/.installed  ## The fault matrix on Redis and RabbitMQ (bench/chaos.py, ~11 min; CHAOS_ARGS=--short ...)
	$(BIN)/python bench/chaos.py $(CHAOS_ARGS)

browser:  ## Install Debian's chromium for the browser tests (apt-get; needs root)
	command -v chromium >/dev/null || apt-get install -y --no-install-recommends chromium \
		|| (apt-get update && apt-get install -y --no-install-recommends chromium)

clean:  ## Remove the virtualenv and all local state (database, Redis data, media)
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
