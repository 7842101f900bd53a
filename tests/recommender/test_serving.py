"""POST /api/recommendations/: input validation, throttling, hidden titles, score semantics."""

from __future__ import annotations

import random

import pytest
from django.core.management import call_command
from django.db.models import Count, F, Q

from catalog.models import Anime
from recommender.engines.services import training_run_create, training_run_execute
from recommender.models import CommunityRating
from tests.catalog.factories import AnimeFactory

pytestmark = pytest.mark.django_db

URL = "/api/recommendations/"


def post(client, payload: dict):
    return client.post(URL, payload, content_type="application/json")


def train(engine: str, **params) -> None:
    run = training_run_execute(
        run_id=training_run_create(engine=engine, trigger="test", params=params).pk
    )
    assert run.state == "done", run.error


# -- input -------------------------------------------------------------------------------


def test_duplicate_titles_are_a_400_that_names_them(client):
    entries = [
        {"mal_id": 1, "score": 10},
        {"mal_id": 5114, "score": 9},
        {"mal_id": 1, "score": 10},
        {"mal_id": 30, "score": None},
        {"mal_id": 30, "score": 7},
    ]
    response = post(client, {"entries": entries})
    assert response.status_code == 400
    assert response.json() == {"entries": ["Each title may appear once; repeated mal_id: 1, 30."]}


def test_more_than_2000_entries_are_a_400(client):
    too_many = [{"mal_id": i, "score": 8} for i in range(1, 2002)]
    response = post(client, {"entries": too_many})
    assert response.status_code == 400
    assert "no more than 2000" in response.json()["entries"][0]
    # 2,000 pass validation (and meet an untrained engine: 503, not 400).
    assert post(client, {"entries": too_many[:2000]}).status_code == 503


@pytest.mark.parametrize("score", [0, -1, 11])
def test_scores_outside_1_to_10_are_a_400(client, score):
    response = post(client, {"entries": [{"mal_id": 1, "score": score}]})
    assert response.status_code == 400
    assert "score" in response.json()["entries"]["0"]


def test_watched_without_a_score_is_null(client):
    response = post(client, {"entries": [{"mal_id": 1, "score": None}, {"mal_id": 5}]})
    assert response.status_code == 503  # valid; no model trained in this test


def test_anonymous_callers_are_throttled_with_json(client, settings):
    settings.RECOMMENDATIONS_ANON_RATE = "3/minute"
    payload = {"entries": [{"mal_id": 1, "score": 9}]}
    assert [post(client, payload).status_code for _ in range(3)] == [503, 503, 503]
    throttled = post(client, payload)
    assert throttled.status_code == 429
    assert throttled["Content-Type"] == "application/json"
    assert "throttled" in throttled.json()["detail"]
    assert int(throttled["Retry-After"]) > 0
    # Another address has its own allowance.
    other = client.post(URL, payload, content_type="application/json", REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 503


# -- served from a model -----------------------------------------------------------------


@pytest.fixture
def mini_community(mini_data, settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "models"
    call_command("import_catalog", str(mini_data), "--no-progress")
    call_command("import_ratings", str(mini_data / "ratings.csv"))


@pytest.mark.parametrize("engine", ["knn_baseline", "watchlist_nn"])
def test_hidden_titles_leave_the_ranking_so_n_are_always_returned(mini_community, client, engine):
    train(engine, **({"epochs": 3, "hidden": 32} if engine == "watchlist_nn" else {}))
    watched = [{"mal_id": 1, "score": 9}, {"mal_id": 121, "score": 8}]
    # Everything is adult except 25 titles both engines model (10+ scores), far down any
    # ranking: the least popular of them.
    keep = list(
        Anime.objects.annotate(
            scores=Count("community_ratings", filter=Q(community_ratings__score__gte=1))
        )
        .filter(scores__gte=10)
        .exclude(mal_id__in=[1, 121])
        .order_by(F("popularity").desc(nulls_last=True), "mal_id")
        .values_list("mal_id", flat=True)[:25]
    )
    Anime.objects.exclude(mal_id__in=keep).update(is_adult=True)
    response = post(client, {"engine": engine, "n": 25, "entries": watched})
    assert response.status_code == 200, response.content
    assert sorted(r["mal_id"] for r in response.json()["results"]) == sorted(keep)


# -- scores mean something: planted tastes -----------------------------------------------

CLUSTERS, PER_CLUSTER, USERS = 3, 12, 300
SEED = int(__import__("os").environ.get("PLANTED_SEED", "1"))


@pytest.fixture
def planted(settings, tmp_path):
    """Three taste clusters of 12 titles. Each member rates 7 titles of their own cluster
    8-10 and 2 titles of the next cluster 1-3: titles of one cluster are neighbours."""
    settings.MODEL_DIR = tmp_path / "models"
    rng = random.Random(7)
    cluster = {c: [5000 + c * 100 + i for i in range(PER_CLUSTER)] for c in range(CLUSTERS)}
    for c, ids in cluster.items():
        for i, mal_id in enumerate(ids):
            # Letters, not numbers: a trailing number would make one franchise of a cluster.
            title = f"Planted title {chr(65 + c)}{chr(65 + i)}"
            AnimeFactory(mal_id=mal_id, title=title, popularity=mal_id)
    rows = []
    for member in range(USERS):
        home, away = member % CLUSTERS, (member + 1) % CLUSTERS
        for mal_id in rng.sample(cluster[home], 7):
            rows.append(CommunityRating(member=member, anime_id=mal_id, score=rng.randint(8, 10)))
        for mal_id in rng.sample(cluster[away], 2):
            rows.append(CommunityRating(member=member, anime_id=mal_id, score=rng.randint(1, 3)))
    CommunityRating.objects.bulk_create(rows)
    return cluster


def _positions(client, engine: str, entries: list[dict], cluster: list[int]) -> list[int]:
    response = post(client, {"engine": engine, "n": 100, "entries": entries})
    assert response.status_code == 200, response.content
    ids = [r["mal_id"] for r in response.json()["results"]]
    assert len(ids) == CLUSTERS * PER_CLUSTER - len(entries)
    return sorted(ids.index(m) for m in cluster if m in ids)


def _mean(values: list[int]) -> float:
    return sum(values) / len(values)


@pytest.mark.parametrize(
    ("engine", "params"),
    [
        ("knn_baseline", {}),
        ("watchlist_nn", {"epochs": 30, "hidden": 32, "batch_size": 32, "random_state": SEED}),
    ],
)
def test_low_scores_count_against_a_titles_neighbours(planted, client, engine, params):
    train(engine, **params)
    seed, *neighbours = planted[0]
    others = CLUSTERS * PER_CLUSTER - 1
    loved = _positions(client, engine, [{"mal_id": seed, "score": 10}], neighbours)
    hated = _positions(client, engine, [{"mal_id": seed, "score": 1}], neighbours)
    middle = others / 2
    # Loved: the neighbours rise to the top half; hated: they sink to the bottom half.
    assert _mean(loved) < middle - 5 and _mean(hated) > middle + 5, (loved, hated)
    if engine == "knn_baseline":  # explicit scores: exactly first, exactly last
        assert loved == list(range(len(neighbours)))
        assert hated == list(range(others - len(neighbours), others))
    # Two titles scored 1/10 do not give the list that 10/10 gives.
    pair = planted[1][:2]
    low = post(client, {"engine": engine, "entries": [{"mal_id": m, "score": 1} for m in pair]})
    high = post(client, {"engine": engine, "entries": [{"mal_id": m, "score": 10} for m in pair]})
    assert low.json()["results"] != high.json()["results"]
    # "Watched, no score" counts for the neighbours in the watch-list model, like a like.
    if engine == "watchlist_nn":
        unscored = _positions(client, engine, [{"mal_id": seed, "score": None}], neighbours)
        assert unscored == loved


def test_a_recurring_version_name_never_serves_another_folders_model(settings, tmp_path):
    """Run ids restart after a rollback or a restored database, so one version name can
    name two different models; the serving cache must tell them apart."""
    import numpy as np
    import scipy.sparse as sp

    from recommender.engines import selectors
    from recommender.ml import artifacts
    from recommender.ml.registry import ENGINES

    spec = ENGINES["knn_baseline"]
    ratings = sp.csr_matrix(np.array([[9, 8, 0], [7, 0, 6], [0, 5, 9]], dtype=np.float32))
    model = spec.factory().fit(ratings)
    for name, items in (("a", [1, 5, 30]), ("b", [20, 21, 22])):
        settings.MODEL_DIR = tmp_path / name
        artifacts.publish(
            settings.MODEL_DIR,
            "knn_baseline",
            "20261122T000000-run1",  # the same name in both folders
            np.array(items),
            {"engine": "knn_baseline"},
            lambda directory: spec.saver(model, directory),
        )
        assert selectors.model_load(engine="knn_baseline").item_ids.tolist() == items
