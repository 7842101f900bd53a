"""The member's own taste model (labeling) as one more list, with match % and taste reasons."""

from __future__ import annotations

import pytest

from catalog.models import Anime
from labeling.models import Label, TasteTrainingRun
from labeling.taste.runs import taste_training_request
from recommender.models import RecommendationRefresh, UserRecommendation
from recommender.personal.reasons import reason_text

pytestmark = pytest.mark.django_db


def titles_of(genre: str, exclude: str, n: int) -> list[int]:
    qs = (
        Anime.objects.filter(genres__name=genre, is_adult=False)
        .exclude(genres__name=exclude)
        .order_by("popularity")
    )
    return list(qs.values_list("mal_id", flat=True)[:n])


def test_a_taste_model_adds_its_list_match_and_taste_reasons(
    served, alice, settings, django_capture_on_commit_callbacks
):
    settings.TASTE_COMMUNITY_FEATURES = False
    liked = titles_of("Mecha", "Romance", 15)
    disliked = titles_of("Romance", "Mecha", 15)
    for mal_id in liked:
        Label.objects.create(user=alice, anime_id=mal_id, answer="like")
    for mal_id in disliked:
        Label.objects.create(user=alice, anime_id=mal_id, answer="dislike")
    with django_capture_on_commit_callbacks(execute=True):
        taste_training_request(user=alice)
    run = TasteTrainingRun.objects.get(user=alice)
    assert run.state == "done", run.error
    state = RecommendationRefresh.objects.get(user=alice)
    assert state.trigger == "taste" and "taste" in state.engines

    taste = list(UserRecommendation.objects.filter(user=alice, engine="taste", section="discover"))
    assert len(taste) == 120
    assert not {r.anime_id for r in taste} & set(liked + disliked)  # labeled: never suggested
    ranked = sorted(taste, key=lambda r: r.rank)
    # Ranked by P(like) of what the model picked (a card may show its franchise's start).
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
    assert all(0 <= r.match <= 1 for r in ranked)
    # Its picks lean to what the labels liked.
    mecha = set(Anime.objects.filter(genres__name="Mecha").values_list("mal_id", flat=True))
    assert sum(r.anime_id in mecha for r in ranked[:20]) >= 10
    up = {name.split(":", 1)[1] for name, _ in run.metrics["explain"]["up"]}
    reasons = [x for r in ranked[:20] for x in r.reasons if x["kind"] == "taste"]
    assert reasons and all(set(x["features"]) <= up for x in reasons)
    assert reason_text(reasons[0]).startswith("Matches your taste for ")
    # Every engine's cards carry the taste model's match.
    knn = UserRecommendation.objects.filter(user=alice, engine="knn_baseline")
    assert knn.exists() and all(0 <= r.match <= 1 for r in knn)
