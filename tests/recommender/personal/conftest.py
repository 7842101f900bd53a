"""Members' stored recommendations over the mini data set, with both engines trained once.

Training is the slow part and its artifacts depend only on the catalog and the community
ratings, so it runs once per session inside a transaction that is rolled back: the files
stay, the rows go. Each test imports the mini catalog again and serves those files.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import transaction

from catalog.franchises import franchise_index_invalidate
from recommender.engines import selectors as serving
from recommender.engines.services import training_run_create, training_run_execute
from recommender.ml.registry import ENGINES
from recommender.personal.selectors import ENGINE_ORDER
from tests.recommender.fast_params import FAST_ENGINE_PARAMS

# Small settings for every engine the registry may hold (the session trains each one).
FAST = FAST_ENGINE_PARAMS
# The page's default engine: the first of the display order that is served.
DEFAULT = next(e for e in ENGINE_ORDER if e in ENGINES)
# Titles of the mini catalog the tests lean on.
BEBOP, BEBOP_MOVIE = 1, 5
FMA_B = 5114
STEINS_GATE, STEINS_GATE_MOVIE = 9253, 11577
DEATH_NOTE = 1535
CODE_GEASS = 1575


@pytest.fixture(scope="session")
def trained_models(django_db_setup, django_db_blocker, tmp_path_factory, mini_data_dir):
    from django.conf import settings

    model_dir = tmp_path_factory.mktemp("personal-models")
    saved = settings.MODEL_DIR
    settings.MODEL_DIR = model_dir
    try:
        with django_db_blocker.unblock(), transaction.atomic():
            call_command("import_catalog", str(mini_data_dir), "--no-progress")
            call_command("import_ratings", str(mini_data_dir / "ratings.csv"))
            for engine in ENGINES:
                run = training_run_create(engine=engine, trigger="test", params=FAST[engine])
                assert training_run_execute(run_id=run.pk).state == "done"
            transaction.set_rollback(True)
    finally:
        settings.MODEL_DIR = saved
        serving._cache.clear()
    return model_dir


@pytest.fixture(scope="session")
def mini_data_dir():
    from tests.conftest import SHARED_DATA

    return SHARED_DATA / "mini"


@pytest.fixture
def served(trained_models, mini_data_dir, settings, db):
    """The mini catalog in the database and both engines served from the session's files."""
    settings.MODEL_DIR = trained_models
    settings.RECOMMENDATIONS_STORED_PER_ENGINE = 120
    call_command("import_catalog", str(mini_data_dir), "--no-progress")
    franchise_index_invalidate()
    serving._cache.clear()
    yield
    franchise_index_invalidate()
    serving._cache.clear()
