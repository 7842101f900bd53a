"""Serving a model whose titles no longer match the catalog, and lists that cover nearly all
of it: both endpoints and the personal refresh answer for the titles both know, never 500.

The engines are trained once on the mini catalog (files kept, rows rolled back); each test
imports that catalog again and then changes it the way a sync does: titles removed, titles
added, titles newly hidden.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from django.core.management import call_command
from django.db import transaction

from accounts.models import ListEntry
from catalog.franchises import franchise_index_invalidate
from catalog.models import Anime
from recommender.engines import selectors as serving
from recommender.engines.services import training_run_create, training_run_execute
from recommender.ml import artifacts
from recommender.ml.registry import ENGINES
from recommender.models import RecommendationRefresh, UserRecommendation
from recommender.personal.services import (
    recommendations_refresh_execute,
    recommendations_refresh_request,
)
from tests.catalog.factories import AnimeFactory
from tests.recommender.fast_params import FAST_ENGINE_PARAMS

pytestmark = pytest.mark.django_db

URL = "/api/recommendations/"
BEBOP, FMA_B, STEINS_GATE, DEATH_NOTE = 1, 5114, 9253, 1535


@pytest.fixture(scope="module")
def trained(django_db_setup, django_db_blocker, tmp_path_factory):
    from django.conf import settings

    from tests.conftest import SHARED_DATA

    model_dir = tmp_path_factory.mktemp("drift-models")
    saved = settings.MODEL_DIR
    settings.MODEL_DIR = model_dir
    try:
        with django_db_blocker.unblock(), transaction.atomic():
            call_command("import_catalog", str(SHARED_DATA / "mini"), "--no-progress")
            call_command("import_ratings", str(SHARED_DATA / "mini" / "ratings.csv"))
            for engine in ENGINES:
                run = training_run_create(
                    engine=engine, trigger="test", params=FAST_ENGINE_PARAMS[engine]
                )
                run = training_run_execute(run_id=run.pk)
                assert run.state == "done", run.error
            transaction.set_rollback(True)
    finally:
        settings.MODEL_DIR = saved
        serving._cache.clear()
    return model_dir


@pytest.fixture
def served(trained, mini_data, settings):
    settings.MODEL_DIR = trained
    settings.RECOMMENDATIONS_STORED_PER_ENGINE = 40
    call_command("import_catalog", str(mini_data), "--no-progress")
    franchise_index_invalidate()
    serving._cache.clear()
    yield trained
    franchise_index_invalidate()
    serving._cache.clear()


def model_titles(engine: str) -> list[int]:
    return [int(m) for m in serving.model_load(engine=engine).item_ids]


def most_popular(mal_ids, k: int, keep=()) -> list[int]:
    return list(
        Anime.objects.filter(mal_id__in=mal_ids)
        .exclude(mal_id__in=keep)
        .order_by("popularity", "mal_id")
        .values_list("mal_id", flat=True)[:k]
    )


@pytest.fixture
def changed_catalog(served):
    """Another catalog than the one trained on: the most popular half of the titles the
    hybrid knows are gone, the next 50 are newly hidden, 30 titles are new."""
    known = model_titles("hybrid")
    listed = [BEBOP, FMA_B, STEINS_GATE, DEATH_NOTE]
    removed = most_popular(known, len(known) // 2, keep=listed)
    hidden = most_popular(known, 50, keep=listed + removed)
    Anime.objects.filter(mal_id__in=removed).delete()
    Anime.objects.filter(mal_id__in=hidden).update(is_adult=True)
    added = [AnimeFactory(mal_id=900_000 + i, popularity=1).mal_id for i in range(30)]
    franchise_index_invalidate()
    return {"removed": set(removed), "hidden": set(hidden), "added": set(added)}


def post(client, payload: dict):
    return client.post(URL, payload, content_type="application/json")


def visible_ids() -> set[int]:
    return set(Anime.objects.filter(is_adult=False).values_list("mal_id", flat=True))


# -- POST /api/recommendations/ --------------------------------------------------------


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("n", [10, 100])
def test_a_changed_catalog_still_gets_n_titles_it_shows(changed_catalog, client, engine, n):
    new_title = min(changed_catalog["added"])
    gone = min(changed_catalog["removed"])
    entries = [
        {"mal_id": BEBOP, "score": 9},
        {"mal_id": FMA_B, "score": 10},
        {"mal_id": DEATH_NOTE, "score": 3},
        {"mal_id": new_title, "score": 8},  # the model never saw it
        {"mal_id": gone, "score": 8},  # the catalog no longer has it
    ]
    response = post(client, {"engine": engine, "n": n, "entries": entries})
    assert response.status_code == 200, response.content
    body = response.json()
    ids = [r["mal_id"] for r in body["results"]]
    assert len(ids) == n
    assert set(ids) <= visible_ids()
    assert not set(ids) & (changed_catalog["removed"] | changed_catalog["hidden"])
    assert not set(ids) & {e["mal_id"] for e in entries}
    assert body["ignored_entries"] >= 1  # at least the title the model never saw


@pytest.mark.parametrize("engine", list(ENGINES))
def test_a_list_of_nearly_every_title_gets_the_ones_left(served, client, engine):
    known = model_titles(engine)
    left = set(most_popular(known, 7)) | set(known[-3:])
    entries = [{"mal_id": m, "score": 8} for m in known if m not in left][:2000]
    response = post(client, {"engine": engine, "n": 100, "entries": entries})
    assert response.status_code == 200, response.content
    ids = {r["mal_id"] for r in response.json()["results"]}
    assert ids, "some titles are left and visible"
    assert ids <= (left | (visible_ids() - set(known))) - {e["mal_id"] for e in entries}


def test_a_model_sharing_no_title_with_the_catalog_is_a_503_saying_a_retrain_is_pending(
    served, client
):
    Anime.objects.filter(mal_id__in=model_titles("hybrid")).delete()
    AnimeFactory(mal_id=900_001)
    response = post(client, {"engine": "hybrid", "entries": [{"mal_id": 900_001, "score": 9}]})
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "retrain_pending"
    assert "retrain" in body["detail"]


def test_a_version_whose_item_index_does_not_fit_its_model_is_a_503(client, settings):
    import scipy.sparse as sp

    spec = ENGINES["knn_baseline"]
    model = spec.factory().fit(
        sp.csr_matrix(np.array([[9, 8, 0], [7, 0, 6], [0, 5, 9]], dtype=np.float32))
    )
    for mal_id in (1, 5, 30, 31):
        AnimeFactory(mal_id=mal_id)
    # Four MAL ids for a three-title model: which title an index names is unknown.
    artifacts.publish(
        settings.MODEL_DIR,
        "knn_baseline",
        "v1",
        np.array([1, 5, 30, 31]),
        {},
        lambda d: spec.saver(model, d),
    )
    for _ in range(2):  # the second answer comes from what the first learnt
        response = post(client, {"engine": "knn_baseline", "entries": [{"mal_id": 1, "score": 9}]})
        assert response.status_code == 503
        assert response.json()["code"] == "retrain_pending"


# -- GET /api/anime/<id>/similar/ -----------------------------------------------------


def test_similar_titles_over_a_changed_catalog_are_titles_it_shows(changed_catalog, client):
    response = client.get(f"/api/anime/{STEINS_GATE}/similar/?limit=20")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["source"] in ("knn_baseline", "watchlist_nn")
    ids = {r["mal_id"] for r in body["results"]}
    assert len(ids) == 20
    assert ids <= visible_ids()
    # A title the models never saw falls back to shared genres, still a 200.
    new_title = min(changed_catalog["added"])
    assert client.get(f"/api/anime/{new_title}/similar/").status_code == 200


def test_when_every_knn_neighbour_is_gone_the_watchlist_network_answers(served, client):
    knn = serving.model_load(engine="knn_baseline")
    neighbours, _ = knn.model.similar_items(knn.index_of[STEINS_GATE], n=len(knn.item_ids))
    assert len(neighbours)
    Anime.objects.filter(mal_id__in=knn.item_ids[neighbours].tolist()).delete()
    franchise_index_invalidate()
    response = client.get(f"/api/anime/{STEINS_GATE}/similar/?limit=20")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["source"] == "watchlist_nn"
    ids = {r["mal_id"] for r in body["results"]}
    assert len(ids) == 20 and ids <= visible_ids()


# -- the personal refresh -------------------------------------------------------------


def refresh(user) -> RecommendationRefresh:
    assert recommendations_refresh_request(user_id=user.pk, trigger="list")
    recommendations_refresh_execute(user_id=user.pk)
    return RecommendationRefresh.objects.get(user=user)


def cards(user, engine) -> list[int]:
    return list(
        UserRecommendation.objects.filter(user=user, engine=engine, section="discover")
        .order_by("rank")
        .values_list("anime_id", flat=True)
    )


def test_a_refresh_over_a_changed_catalog_stores_cards_of_every_engine(changed_catalog, alice):
    for mal_id, score in ((BEBOP, 9), (FMA_B, 10), (DEATH_NOTE, 3), (STEINS_GATE, 9)):
        ListEntry.objects.create(user=alice, anime_id=mal_id, score=score, status="completed")
    ListEntry.objects.create(
        user=alice, anime_id=min(changed_catalog["added"]), score=8, status="completed"
    )
    state = refresh(alice)
    assert state.state == "done", state.error
    for engine in ENGINES:
        ids = cards(alice, engine)
        assert len(ids) == 40, engine
        assert set(ids) <= visible_ids()


def test_a_member_who_listed_nearly_every_title_gets_the_rest_from_every_engine(served, alice):
    known = set(model_titles("hybrid"))
    left = set(most_popular(known, 5)) | set(sorted(known)[-5:])
    ListEntry.objects.bulk_create(
        ListEntry(user=alice, anime_id=m, score=8, status="completed")
        for m in Anime.objects.exclude(mal_id__in=left).values_list("mal_id", flat=True)
    )
    state = refresh(alice)
    assert state.state == "done", state.error
    for engine in ENGINES:
        ids = cards(alice, engine)
        assert ids, engine
        assert set(ids) <= left, engine


@contextlib.contextmanager
def broken(model_dir, engines):
    """The engines' served versions lose their item index (a half-restored backup, say)."""
    files = [
        artifacts.engine_dir(model_dir, e) / artifacts.current_version(model_dir, e) / "items.npy"
        for e in engines
    ]
    saved = [f.read_bytes() for f in files]
    try:
        for f in files:
            f.chmod(0o644)
            f.write_bytes(b"not an index")
        serving._cache.clear()
        yield
    finally:
        for f, data in zip(files, saved, strict=True):
            f.write_bytes(data)
        serving._cache.clear()


def test_one_engine_failing_leaves_the_others_cards_and_names_it(served, alice):
    for mal_id, score in ((BEBOP, 9), (FMA_B, 10), (DEATH_NOTE, 3)):
        ListEntry.objects.create(user=alice, anime_id=mal_id, score=score, status="completed")
    with broken(served, ["knn_baseline"]):
        state = refresh(alice)
    assert state.state == "done", state.error
    assert state.engines["knn_baseline"]["kept"] == 0
    assert "knn_baseline" in state.error
    assert cards(alice, "knn_baseline") == []
    for engine in set(ENGINES) - {"knn_baseline"}:
        assert len(cards(alice, engine)) == 40, engine
        assert state.engines[engine]["discover"] == 40


def test_an_engine_failing_later_keeps_its_previous_cards_less_what_was_acted_on(served, alice):
    for mal_id, score in ((BEBOP, 9), (FMA_B, 10), (DEATH_NOTE, 3)):
        ListEntry.objects.create(user=alice, anime_id=mal_id, score=score, status="completed")
    assert refresh(alice).state == "done"
    before = cards(alice, "knn_baseline")
    assert len(before) == 40
    # The member rates one of the KNN's cards, then the KNN breaks.
    ListEntry.objects.create(user=alice, anime_id=before[0], score=8, status="completed")
    with broken(served, ["knn_baseline"]):
        state = refresh(alice)
    assert state.state == "done", state.error
    assert "knn_baseline" in state.error
    assert cards(alice, "knn_baseline") == before[1:]
    assert state.engines["knn_baseline"]["kept"] == 39
    for engine in set(ENGINES) - {"knn_baseline"}:
        assert before[0] not in cards(alice, engine), engine


def test_every_engine_failing_fails_the_refresh_and_keeps_the_stored_cards(served, alice):
    for mal_id, score in ((BEBOP, 9), (FMA_B, 10), (DEATH_NOTE, 3)):
        ListEntry.objects.create(user=alice, anime_id=mal_id, score=score, status="completed")
    assert refresh(alice).state == "done"
    before = {engine: cards(alice, engine) for engine in ENGINES}
    with broken(served, list(ENGINES)):
        state = refresh(alice)
    assert state.state == "failed"
    assert all(engine in state.error for engine in ENGINES)
    assert {engine: cards(alice, engine) for engine in ENGINES} == before
    assert all(before.values())
