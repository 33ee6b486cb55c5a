# Torghut operator plane. `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
LEAN_PORT ?= 8751
ALPACA_PORT ?= 8752
SECOND_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: venv demo serve test test-fast smoke-second-db bench lint contract db-reset clean

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
	$(PY) manage.py load_demo
	$(PY) manage.py serve_demo --port $(PORT) --lean-port $(LEAN_PORT) --alpaca-port $(ALPACA_PORT)

test: venv
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest -q --create-db -p no:cacheprovider
	$(MAKE) --no-print-directory contract
	$(MAKE) --no-print-directory smoke-second-db

# Whole suite on the embedded server (above); migrate + smoke tests on the machine's PostgreSQL when one answers.
smoke-second-db: venv
	@if $(PY) -c "import psycopg,sys; psycopg.connect('$(SECOND_DATABASE_URL)', connect_timeout=3).close()" 2>/dev/null; then \
	  echo "== second database mode: $(SECOND_DATABASE_URL)"; \
	  DATABASE_URL=$(SECOND_DATABASE_URL) $(PY) manage.py migrate --noinput && \
	  DATABASE_URL=$(SECOND_DATABASE_URL) $(PY) -m pytest -q --create-db -p no:cacheprovider -m smoke; \
	else echo "== second database mode skipped: nothing answers at $(SECOND_DATABASE_URL)"; fi

contract: venv
	$(PY) manage.py spectacular --format openapi-json --file var/schema.json --fail-on-warn
	@if [ -f ../shared/tools/check_contract.py ]; then $(PY) ../shared/tools/check_contract.py var/schema.json; \
	  else echo "contract checker not found beside the project; skipped"; fi

bench: venv
	$(PY) -m bench

lint: venv
	$(VENV)/bin/ruff check .

db-reset:
	@read -p "Delete the embedded database in var/pgdata? [y/N] " a && [ "$$a" = y ] && rm -rf var/pgdata && echo deleted || echo kept

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
