# Everyday commands. Bare `make` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
REPEAT ?= 5

.DEFAULT_GOAL := help
.PHONY: help venv run test test-fast test-repeat lint fmt migrate bootstrap worker beat serve sync-catalog \
        import-catalog bench bench-scale check-deploy clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

venv: $(BIN)/.installed ## Create the virtualenv and install requirements

migrate: venv ## Apply database migrations
	$(BIN)/python manage.py migrate --noinput

bootstrap: migrate ## Migrate, then import ANIMENDER_DATA_DIR if the catalog is empty
	$(BIN)/python manage.py bootstrap

run: bootstrap ## Set up and serve http://127.0.0.1:8000 (SQLite, in-process tasks)
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: venv ## Run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-repeat: venv ## make test REPEAT times (default 5) with every core kept busy
	.ci/test-repeat $(REPEAT)

test-fast: venv ## Run the tests that need no broker
	$(BIN)/python -m pytest -m "not broker" $(PYTEST_ARGS)

lint: venv ## ruff lint and format check, and no upward import between apps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python .ci/check_layers.py

fmt: venv ## ruff format and autofix
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

worker: venv ## Celery worker (needs CELERY_BROKER_URL)
	$(BIN)/celery -A animender worker -l info

beat: venv ## Celery beat: periodic catalog sync and retraining (needs CELERY_BROKER_URL)
	$(BIN)/celery -A animender beat -l info

serve: migrate ## Production server: collectstatic + gunicorn (set ANIMENDER_ENV=production)
	$(BIN)/python manage.py collectstatic --noinput
	$(BIN)/gunicorn animender.wsgi -b $(HOST):$(PORT) --workers $${WEB_CONCURRENCY:-3}

sync-catalog: migrate ## Sync the catalog from the MAL API (needs MAL_CLIENT_ID)
	$(BIN)/python manage.py sync_catalog

import-catalog: migrate ## Import a catalog CSV: make import-catalog DATA=../shared/data
	$(BIN)/python manage.py import_catalog $(DATA)

bench: venv ## Run the benchmarks on ../shared/data (results in bench/results/)
	mkdir -p bench/results
	$(BIN)/python bench/catalog_sync.py --json bench/results/catalog_sync.json
	$(BIN)/python bench/list_import.py --json bench/results/list_import.json
	$(BIN)/python bench/knn_baseline.py --data ../shared/data --json bench/results/knn_baseline.json
	$(BIN)/python bench/offline_eval.py --data ../shared/data --json bench/results/offline_eval.json \
		--plot bench/results/offline_eval_ndcg.png
	$(BIN)/python bench/active_learning.py --data ../shared/data --json bench/results/active_learning.json

SCALE_SIZES ?= 0.5M,5M,15M,45M
SCALE_ROOT ?= /tmp/animender-scale
SCALE_DATABASE_URL ?=
bench-scale: venv ## Cost curves by data size (SCALE_SIZES, SCALE_DATABASE_URL: emptied!)
	mkdir -p bench/results
	$(BIN)/python bench/scale.py --sizes $(SCALE_SIZES) --root $(SCALE_ROOT) \
		$(if $(SCALE_DATABASE_URL),--database-url $(SCALE_DATABASE_URL)) \
		--json bench/results/scale.json --plot bench/results/scale.png

check-deploy: venv ## Django's deployment checklist in production mode
	$(BIN)/python manage.py check --deploy

clean: ## Remove the virtualenv, local database and caches
	rm -rf $(VENV) var .pytest_cache .ruff_cache
