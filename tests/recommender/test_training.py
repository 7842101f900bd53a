"""Training the global engines through their entry points, and serving any list from them."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from recommender.engines.services import training_run_create, training_run_execute
from recommender.engines.tasks import train_all_task
from recommender.ml import artifacts
from recommender.models import CommunityRating, TrainingRun
from tests.recommender.fast_params import FAST_ENGINE_PARAMS

pytestmark = pytest.mark.django_db

FAST = FAST_ENGINE_PARAMS
# Popular mini titles: Cowboy Bebop, Trigun, Fullmetal Alchemist, Death Note, Code Geass.
WATCHED = [
    {"mal_id": 1, "score": 9},
    {"mal_id": 6, "score": 8},
    {"mal_id": 121, "score": 9},
    {"mal_id": 1535, "score": 10},
    {"mal_id": 1575, "score": None},
]


@pytest.fixture
def community(mini_data, settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "models"
    settings.RECOMMENDER_ENGINE_PARAMS = FAST  # small fits: this tests wiring, not quality
    call_command("import_catalog", str(mini_data), "--no-progress")
    call_command("import_ratings", str(mini_data / "ratings.csv"))


def train(engine: str, **extra) -> TrainingRun:
    run = training_run_create(engine=engine, trigger="test", params={**FAST[engine], **extra})
    return training_run_execute(run_id=run.pk)


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("sam", "sam@example.com", "pw", is_staff=True)


def test_train_models_command_publishes_every_engine(community, settings, capsys):
    call_command("train_models")
    out = capsys.readouterr().out
    for engine in ("knn_baseline", "watchlist_nn", "hybrid"):
        run = TrainingRun.objects.get(engine=engine)
        assert run.state == TrainingRun.State.DONE, run.error
        assert run.metrics["users"] > 300 and run.metrics["items"] > 1000
        assert artifacts.current_version(settings.MODEL_DIR, engine) == run.version
        assert f"{engine}: version {run.version}" in out


@pytest.mark.parametrize("engine", ["knn_baseline", "watchlist_nn", "hybrid"])
def test_new_user_is_served_without_refit(community, client, engine):
    run = train(engine)
    assert run.state == TrainingRun.State.DONE, run.error
    response = client.post(
        "/api/recommendations/",
        {"engine": engine, "n": 15, "entries": WATCHED},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"] == run.version
    ids = [r["mal_id"] for r in body["results"]]
    assert len(ids) == 15 and len(set(ids)) == 15
    assert not set(ids) & {e["mal_id"] for e in WATCHED}
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert TrainingRun.objects.filter(engine=engine).count() == 1


def test_different_tastes_get_different_recommendations(community, client):
    train("hybrid")
    # Kids/family titles vs. dark seinen: the top lists must differ.
    a = client.post(
        "/api/recommendations/", {"entries": WATCHED[:4]}, content_type="application/json"
    ).json()
    b = client.post(
        "/api/recommendations/",
        {"entries": [{"mal_id": 19, "score": 10}, {"mal_id": 33, "score": 9}]},
        content_type="application/json",
    ).json()
    assert [r["mal_id"] for r in a["results"]] != [r["mal_id"] for r in b["results"]]


def test_recommendations_before_training_is_503_json(community, client):
    response = client.post(
        "/api/recommendations/", {"entries": WATCHED}, content_type="application/json"
    )
    assert response.status_code == 503
    assert "has not been trained" in response.json()["detail"]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"entries": []}, "entries"),
        ({"entries": [{"mal_id": 1, "score": 11}]}, "entries"),
        ({"entries": [{"mal_id": "x"}]}, "entries"),
        ({"entries": WATCHED, "n": 0}, "n"),
        ({"entries": WATCHED, "engine": "magic"}, "engine"),
    ],
)
def test_bad_recommendation_request_is_400_naming_the_field(client, payload, field):
    response = client.post("/api/recommendations/", payload, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()


def test_failed_training_keeps_serving_the_previous_version(community, settings, client):
    first = train("knn_baseline")
    CommunityRating.objects.all().delete()
    second = train("knn_baseline")
    assert second.state == TrainingRun.State.FAILED
    assert "no training data" in second.error
    assert artifacts.current_version(settings.MODEL_DIR, "knn_baseline") == first.version
    response = client.post(
        "/api/recommendations/",
        {"engine": "knn_baseline", "entries": WATCHED},
        content_type="application/json",
    )
    assert response.json()["version"] == first.version


def test_training_past_its_memory_cap_fails_cleanly_and_the_old_model_serves(
    community, settings, client
):
    settings.TRAINING_MEMORY_LIMIT_MB = 4000  # a child process fits: it can publish too
    first = train("knn_baseline")
    assert first.state == TrainingRun.State.DONE, first.error
    assert first.metrics["peak_rss_mb"] > 0
    settings.TRAINING_MEMORY_LIMIT_MB = 64  # less than Python and numba need to start
    second = train("knn_baseline")
    assert second.state == TrainingRun.State.FAILED
    assert "out of memory" in second.error and "cap of 64 MB" in second.error
    assert artifacts.current_version(settings.MODEL_DIR, "knn_baseline") == first.version
    engine_dir = artifacts.engine_dir(settings.MODEL_DIR, "knn_baseline")
    assert [p.name for p in engine_dir.iterdir() if p.name.startswith(".fit-")] == []
    response = client.post(
        "/api/recommendations/",
        {"engine": "knn_baseline", "entries": WATCHED},
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["version"] == first.version


def test_training_runs_api_is_staff_only(
    community, client, alice, staff, django_capture_on_commit_callbacks
):
    assert client.post("/api/training-runs/", {"engine": "knn_baseline"}).status_code == 403
    client.force_login(alice)
    assert client.get("/api/training-runs/").status_code == 403
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/training-runs/", {"engine": "knn_baseline"}, content_type="application/json"
        )
    assert response.status_code == 202
    assert response.json()["state"] == "queued"
    run = client.get(f"/api/training-runs/{response.json()['id']}/").json()
    assert run["state"] == "done" and run["trigger"] == "api"
    assert (
        client.post(
            "/api/training-runs/", {"engine": "nope"}, content_type="application/json"
        ).status_code
        == 400
    )


def test_engines_api_reports_serving_versions(community, client):
    run = train("knn_baseline")
    engines = {e["name"]: e for e in client.get("/api/engines/").json()}
    assert engines["knn_baseline"]["version"] == run.version
    assert engines["watchlist_nn"]["version"] is None


def test_nightly_task_trains_one_run_per_engine(community, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run_ids = train_all_task()
    runs = TrainingRun.objects.filter(pk__in=run_ids)
    assert set(runs.values_list("state", flat=True)) == {"done"}
    assert sorted(runs.values_list("engine", flat=True)) == [
        "hybrid",
        "knn_baseline",
        "watchlist_nn",
    ]
    assert set(runs.values_list("trigger", flat=True)) == {"schedule"}


def test_engine_names_come_from_the_registry_alone():
    from recommender.engines.api import RecommendationCreateApi, TrainingRunListApi
    from recommender.ml.registry import ENGINES

    field = TrainingRun._meta.get_field("engine")
    assert [name for name, _ in field.choices] == list(ENGINES)
    for api in (RecommendationCreateApi, TrainingRunListApi):
        assert list(api.InputSerializer().fields["engine"].choices) == list(ENGINES)


def test_adult_titles_are_not_recommended_unless_shown(community, client, settings):
    from catalog.models import Anime

    train("knn_baseline")
    payload = {"engine": "knn_baseline", "n": 100, "entries": WATCHED}
    shown = client.post("/api/recommendations/", payload, content_type="application/json")
    top = [r["mal_id"] for r in shown.json()["results"]]
    # Mark half of what was recommended as adult: those must disappear, the rest stay.
    adult = top[::2]
    Anime.objects.filter(mal_id__in=adult).update(is_adult=True)
    hidden = client.post("/api/recommendations/", payload, content_type="application/json")
    ids = [r["mal_id"] for r in hidden.json()["results"]]
    assert len(ids) == 100 and not set(ids) & set(adult)
    settings.SHOW_ADULT_CONTENT = True
    again = client.post("/api/recommendations/", payload, content_type="application/json")
    assert [r["mal_id"] for r in again.json()["results"]] == top


def test_hybrid_is_the_default_engine_and_says_why(community, client, settings):
    run = train("hybrid")
    assert run.state == TrainingRun.State.DONE, run.error
    path, _, meta = artifacts.read_version(settings.MODEL_DIR, "hybrid", run.version)
    # The artifact holds its components and the ranker, not references to other engines.
    for part in ("ease.npz", "knn_baseline.npz", "als.npz", "ranker.txt", "watchlist_nn"):
        assert (path / "hybrid" / part).exists()
    response = client.post(
        "/api/recommendations/", {"n": 10, "entries": WATCHED}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["engine"] == "hybrid" and body["version"] == run.version
    listed = {e["mal_id"] for e in WATCHED}
    for item in body["results"]:
        parts = item["contributions"]
        assert {"ease", "watchlist_nn", "als", "knn_baseline", "popularity", "user"} <= set(parts)
        assert set(item["because"]) <= listed
    assert any(item["because"] for item in body["results"])
    single = client.post(
        "/api/recommendations/",
        {"engine": "knn_baseline", "entries": WATCHED},
        content_type="application/json",
    )
    assert single.status_code == 503  # not trained here: only the hybrid was


def test_hybrid_low_score_pushes_a_titles_neighbours_down(community, client):
    """Death Note scored 2 instead of 10, the rest of the list the same."""
    train("hybrid")

    def top(score):
        entries = [*WATCHED[:3], {"mal_id": 1535, "score": score}]
        body = client.post(
            "/api/recommendations/", {"n": 30, "entries": entries}, content_type="application/json"
        ).json()
        return [r["mal_id"] for r in body["results"]]

    liked, disliked = top(10), top(2)
    assert liked != disliked
    # Code Geass (1575) and its sequel (2904) are among Death Note's closest neighbours.
    for neighbour in (1575, 2904):
        rank_liked = liked.index(neighbour) if neighbour in liked else 30
        rank_disliked = disliked.index(neighbour) if neighbour in disliked else 30
        assert rank_disliked >= rank_liked
