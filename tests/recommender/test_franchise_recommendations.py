"""POST /api/recommendations/ is franchise-aware: the issue's Bebop + FMA:B fan."""

from __future__ import annotations

import pytest
import scipy.sparse as sp
from django.core.management import call_command

from catalog.franchises import franchise_index, franchise_index_invalidate
from recommender.engines import selectors
from recommender.engines.selectors import model_load
from recommender.engines.services import training_run_create, training_run_execute
from tests.recommender.fast_params import FAST_ENGINE_PARAMS

pytestmark = pytest.mark.django_db

BEBOP, FMA_B = 1, 5114
FAN = [{"mal_id": BEBOP, "score": 9}, {"mal_id": FMA_B, "score": 10}]
FAST = FAST_ENGINE_PARAMS


@pytest.fixture
def community(mini_data, settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "models"
    call_command("import_catalog", str(mini_data), "--no-progress")
    call_command("import_ratings", str(mini_data / "ratings.csv"))
    franchise_index_invalidate()
    selectors._cache.clear()
    yield
    franchise_index_invalidate()
    selectors._cache.clear()


def _sequels_of_unstarted(ids, index, watched) -> list[int]:
    return [m for m in ids if index.entry_point(m) != m and index.entry_point(m) not in watched]


@pytest.mark.parametrize("engine", ["knn_baseline", "watchlist_nn"])
def test_fan_of_bebop_and_fma_gets_entry_points_one_per_franchise(community, client, engine):
    run = training_run_create(engine=engine, trigger="test", params=FAST[engine])
    assert training_run_execute(run_id=run.pk).state == "done"
    index = franchise_index(show_adult=False)
    watched = {BEBOP, FMA_B}
    # What the engine ranks on its own: sequels and films of series the fan never started.
    loaded = model_load(engine=engine)
    cols = [loaded.index_of[BEBOP], loaded.index_of[FMA_B]]
    values = [9.0, 10.0] if engine == "knn_baseline" else [1.0, 1.0]
    row = sp.csr_matrix((values, ([0, 0], cols)), shape=(1, len(loaded.item_ids)))
    raw = [int(loaded.item_ids[i]) for i in loaded.model.recommend(row, n=40)[0][0]]
    assert _sequels_of_unstarted(raw, index, watched), "the raw ranking has no sequel to fix"

    body = client.post(
        "/api/recommendations/",
        {"engine": engine, "n": 30, "entries": FAN},
        content_type="application/json",
    ).json()
    ids = [r["mal_id"] for r in body["results"]]
    assert len(ids) == 30
    assert _sequels_of_unstarted(ids, index, watched) == []
    assert len({index.franchise_id(m) for m in ids}) == 30  # one card per franchise
    assert not set(ids) & watched
    swapped = [r for r in body["results"] if r["entry_point"]]
    assert swapped and all(r["franchise_size"] > 1 for r in swapped)
    # A swapped card stands for a ranked sequel of that franchise.
    raw_franchises = {index.franchise_id(m) for m in raw}
    assert all(index.franchise_id(r["mal_id"]) in raw_franchises for r in swapped[:3])
