# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1:8000

.PHONY: run test install worker clean-db security lint bundle

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Creates the venv, installs, migrates SQLite, seeds demo data on first run, serves the app, and
# runs a Celery worker with the beat (daily reminders) beside it on the embedded filesystem broker
# (log in var/celery.log); the worker is stopped when runserver exits (Ctrl-C). Do not also run
# `make worker`: only one beat may run.
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py seed_demo --if-empty
	mkdir -p var/celery-broker/processed
	@$(VENV)/bin/celery -A visitplan worker -B --pool=solo --loglevel=INFO --logfile=var/celery.log & \
	worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT HUP INT TERM; \
	echo "Celery worker + beat started (pid $$worker, log var/celery.log)"; \
	$(PY) manage.py runserver $(HOST)

# The whole test suite (CI points DATABASE_URL at PostgreSQL and sets REQUIRE_SERVICES=1).
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The linters CI runs before the tests: ruff (lint and format), the import layers
# (.importlinter), and no model change without its migration.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run

# Deployment checks (CI runs them before the tests): Django's --deploy checks with production
# settings (DEBUG off, a random 50+ character key), then bandit, failing on high-severity findings.
security: install
	DEBUG=false ALLOWED_HOSTS=visit.example.gov.cn \
	SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	$(PY) manage.py check --deploy --fail-level WARNING
	$(VENV)/bin/bandit -q -r core households issues reports visits visitplan -x '*/tests/*,*/migrations/*' -lll

# The offline install bundle (docs/deploy.md): dist/visitplan-<version>-py3.11-<platform>.tar.gz with
# HEAD's source, a wheel of every runtime requirement for this Python and platform, the collected
# static files, install.sh (pip install --no-index) and SHA256SUMS. Building uses the registry.
bundle: install
	$(PY) scripts/bundle.py --out dist

# Celery worker with beat, on the embedded filesystem broker unless CELERY_BROKER_URL is set.
worker: install
	$(VENV)/bin/celery -A visitplan worker -B --pool=solo --loglevel=INFO

clean-db:
	rm -f db.sqlite3 db.sqlite3-wal db.sqlite3-shm
