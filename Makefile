# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

# Tests run against the real servers on loopback.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/attention_mcp
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test lint typecheck fmt migrate seed shell clean venv

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

migrate: venv
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo --if-empty

# The URLs printed, and the issuer/audience of the demo keys, follow HOST and PORT.
run: export PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
run: seed
	$(PY) manage.py demo_info
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) attention_mcp.asgi:application

test: venv
	./scripts/ensure-services.sh
	./scripts/ensure-chromium.sh
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest
	$(MAKE) --no-print-directory lint

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

shell: venv
	$(PY) manage.py shell

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache test-artifacts
