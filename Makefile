# Torghut operator plane. `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
LEAN_PORT ?= 8751
ALPACA_PORT ?= 8752
SECOND_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
SECOND_SERVER := $(patsubst %/,%,$(dir $(SECOND_DATABASE_URL)))
SMOKE_DB ?= torghut_ci_smoke

.PHONY: venv demo serve worker test e2e test-fast smoke-second-db bench lint contract db-reset clean

$(VENV)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap_roles
	$(PY) manage.py sync_schedules
	$(PY) manage.py load_demo
	$(PY) manage.py serve_demo --port $(PORT) --lean-port $(LEAN_PORT) --alpaca-port $(ALPACA_PORT)

# The processes as deployed (core/serving.py): DEBUG off, a secret key kept in var/secret_key
# (0600) unless SECRET_KEY or SECRET_KEY_FILE is set; migrations (and collectstatic) as the owner of the
# schema, then gunicorn / qcluster as the service login: torghut_web on the embedded server, or
# SERVICE_DATABASE_URL beside DATABASE_URL. Both run in the foreground (exec): Ctrl-C or SIGTERM stops them.
# Plain HTTP on loopback needs no redirect to https: SECURE_SSL_REDIRECT=1 behind a TLS proxy.
WORKERS ?= 2
THREADS ?= 8
serve worker: export SECURE_SSL_REDIRECT ?= 0
# persistent connections (one per thread, health-checked before each request): no connection set-up per request,
# and the order path's statements stay prepared on them
serve worker: export DB_CONN_MAX_AGE ?= 600
serve: venv
	exec $(PY) -m core.serving web --bind 127.0.0.1:$(PORT) --workers $(WORKERS) --threads $(THREADS)

worker: venv
	exec $(PY) -m core.serving worker

test: venv
	$(PY) manage.py check --database default
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest -q --create-db -p no:cacheprovider
	$(MAKE) --no-print-directory contract
	$(MAKE) --no-print-directory smoke-second-db

# The whole loop proved on a scratch database of its own (torghut_demo_loop_<pid>, dropped at the end), with the
# sandbox brokers, an API server and a webhook receiver on free loopback ports: manage.py demo_loop --help.
# Exit status 1 names the step whose evidence is missing.
e2e: venv
	$(PY) manage.py demo_loop

# Whole suite on the embedded server (above); migrate + smoke tests on the machine's PostgreSQL when one answers.
# A scratch database on that server is recreated each time, so its migration history is always fresh.
smoke-second-db: venv
	@if $(PY) -c "import psycopg; psycopg.connect('$(SECOND_DATABASE_URL)', connect_timeout=3).close()" 2>/dev/null; then \
	  echo "== second database mode: $(SECOND_SERVER)/$(SMOKE_DB)"; \
	  $(PY) -c "import psycopg; c = psycopg.connect('$(SECOND_DATABASE_URL)', autocommit=True); \
	    c.execute('DROP DATABASE IF EXISTS $(SMOKE_DB) WITH (FORCE)'); c.execute('CREATE DATABASE $(SMOKE_DB)')" && \
	  DATABASE_URL=$(SECOND_SERVER)/$(SMOKE_DB) $(PY) manage.py migrate --noinput && \
	  DATABASE_URL=$(SECOND_SERVER)/$(SMOKE_DB) $(PY) manage.py check && \
	  DATABASE_URL=$(SECOND_SERVER)/$(SMOKE_DB) $(PY) -m pytest -q --create-db -p no:cacheprovider -m smoke; \
	else echo "== second database mode skipped: nothing answers at $(SECOND_DATABASE_URL)"; fi

# The schema must generate without warnings, and every operation of the agent contract must exist
# except those listed in .ci/contract-pending.txt (operations of issues still open).
contract: venv
	@mkdir -p var
	$(PY) manage.py spectacular --format openapi-json --file var/schema.json --fail-on-warn
	$(PY) .ci/contract_gate.py var/schema.json

# Every benchmark (bench/bench_*.py), or those named, with options: make bench BENCH="load --rate 200 --seconds 60"
BENCH ?=
bench: venv
	$(PY) -m bench $(BENCH)

lint: venv
	$(VENV)/bin/ruff check .

db-reset:
	@read -p "Delete the embedded database in var/pgdata? [y/N] " a && [ "$$a" = y ] && rm -rf var/pgdata && echo deleted || echo kept

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
