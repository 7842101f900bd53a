"""Members' lists join the engines' community training data."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.models import ListEntry
from accounts.selectors import platform_user_key
from recommender.engines.services import training_run_create, training_run_execute
from recommender.engines.training_data import interactions_frame
from recommender.ml import artifacts
from recommender.models import CommunityRating
from tests.catalog.factories import AnimeFactory

pytestmark = pytest.mark.django_db


def test_interactions_frame_maps_members_to_their_own_id_space(alice, charlie, titles):
    CommunityRating.objects.create(member=alice.pk, anime_id=1, score=3)  # same number, data set
    ListEntry.objects.create(user=alice, anime_id=1, status="completed", score=9)
    ListEntry.objects.create(user=alice, anime_id=5, status="completed")  # unscored -> -1
    ListEntry.objects.create(user=alice, anime_id=6, status="plan_to_watch")  # no signal
    ListEntry.objects.create(user=alice, anime_id=30, status="dropped", score=2)
    ListEntry.objects.create(
        user=charlie, anime_id=32, status="completed", score=8, not_interested=True
    )
    frame = interactions_frame()
    rows = set(map(tuple, frame[["user_id", "anime_id", "rating"]].to_numpy().tolist()))
    me = platform_user_key(alice.pk)
    assert me < 0
    assert rows == {(alice.pk, 1, 3), (me, 1, 9), (me, 5, -1), (me, 30, 2)}
    assert not frame.duplicated(["user_id", "anime_id"]).any()


def test_a_title_rated_only_by_members_enters_the_engines_after_a_retrain(
    mini_data, settings, tmp_path, django_user_model
):
    settings.MODEL_DIR = tmp_path / "models"
    call_command("import_catalog", str(mini_data), "--no-progress")
    call_command("import_ratings", str(mini_data / "ratings.csv"))
    fresh = AnimeFactory(mal_id=990001, title="Only Our Members Watched This")
    assert not CommunityRating.objects.filter(anime=fresh).exists()
    popular = [1, 6, 121, 1535, 1575, 5114, 9253]
    for i in range(8):
        user = django_user_model.objects.create_user(f"member{i}", f"m{i}@example.com", "pw")
        for j, mal_id in enumerate(popular):
            ListEntry.objects.create(
                user=user, anime_id=mal_id, status="completed", score=7 + j % 3
            )
        ListEntry.objects.create(user=user, anime=fresh, status="completed", score=9)

    before = training_run_execute(
        run_id=training_run_create(engine="knn_baseline", trigger="test").pk
    )
    assert before.state == "done", before.error
    _, item_ids, _ = artifacts.read_version(settings.MODEL_DIR, "knn_baseline", before.version)
    assert 990001 in set(item_ids.tolist())
    assert before.metrics["users"] == 399 + 8  # the mini data's members plus ours

    response = _recommend_for_fans(popular)
    assert response.status_code == 200
    assert 990001 in [r["mal_id"] for r in response.json()["results"]]


def _recommend_for_fans(popular):
    from django.test import Client

    return Client().post(
        "/api/recommendations/",
        {
            "engine": "knn_baseline",
            "n": 50,
            "entries": [{"mal_id": m, "score": 9} for m in popular],
        },
        content_type="application/json",
    )
