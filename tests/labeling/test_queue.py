"""The labeling queue through GET /api/me/queue/: cold start, uncertainty, exclusions."""

from __future__ import annotations

import numpy as np
import pytest

from accounts.models import Profile
from labeling.models import Label, TasteScores, TasteTrainingRun

from .conftest import list_entry, main_genre

pytestmark = pytest.mark.django_db

QUEUE = "/api/me/queue/"


def queue_ids(client, limit=50) -> list[int]:
    resp = client.get(QUEUE, {"limit": limit})
    assert resp.status_code == 200, resp.content
    return [item["mal_id"] for item in resp.json()["results"]]


def plant_scores(user, catalog, proba_of, ask=()) -> TasteTrainingRun:
    run = TasteTrainingRun.objects.create(user=user, state="done", version="v-test")
    ids = np.array([a.mal_id for a in catalog], dtype="<i4")
    proba = np.array([proba_of(a) for a in catalog], dtype="<f4")
    TasteScores.objects.create(
        user=user,
        run=run,
        version="v-test",
        mal_ids=ids.tobytes(),
        proba=proba.tobytes(),
        ask_order=np.array(ask, dtype="<i4").tobytes(),
    )
    return run


def test_new_member_gets_popular_titles_across_genres(alice_client, catalog):
    resp = alice_client.get(QUEUE, {"limit": 12})
    data = resp.json()
    assert data["strategy"] == "cold_start"
    assert len(data["results"]) == 12
    assert {item["reason"] for item in data["results"]} == {"cold_start"}
    first = data["results"][0]
    assert first["title"] and first["genres"] and first["p_like"] is None
    # "spread across genres": the first answers cover most of the taste space
    mains = {item["title"].split()[0] for item in data["results"]}
    assert len(mains) >= 4


def test_adult_titles_follow_the_members_setting(alice_client, alice, catalog, settings):
    settings.SHOW_ADULT_CONTENT = True
    assert not [m for m in queue_ids(alice_client) if m >= 5000]
    Profile.objects.update_or_create(user=alice, defaults={"show_adult": True})
    assert any(m >= 5000 for m in queue_ids(alice_client, limit=50))
    # The site's setting is the ceiling: with it off, the opt-in shows no adult title.
    settings.SHOW_ADULT_CONTENT = False
    assert not [m for m in queue_ids(alice_client, limit=50) if m >= 5000]


def test_queue_never_asks_about_labeled_listed_or_not_interested_titles(
    alice_client, alice, catalog
):
    first = queue_ids(alice_client, limit=10)
    by_id = {a.mal_id: a for a in catalog}
    Label.objects.create(user=alice, anime=by_id[first[0]], answer="like")
    Label.objects.create(user=alice, anime=by_id[first[1]], answer="skip")
    list_entry(alice, by_id[first[2]], score=9)
    list_entry(alice, by_id[first[3]], status="plan_to_watch")
    list_entry(alice, by_id[first[4]], status="", not_interested=True)
    after = queue_ids(alice_client, limit=50)
    assert not set(first[:5]) & set(after)
    assert first[5] in after


def test_with_a_model_the_queue_asks_where_the_model_is_least_sure(alice_client, alice, catalog):
    # Planted: Drama titles sit at P(like) 0.5, everything else is confidently scored.
    plant_scores(alice, catalog, lambda a: 0.5 if main_genre(a) == "Drama" else 0.95)
    data = alice_client.get(QUEUE, {"limit": 8}).json()
    assert data["strategy"] == "uncertainty"
    assert data["model_version"] == "v-test"
    assert {item["reason"] for item in data["results"]} == {"uncertainty"}
    assert {item["title"].split()[0] for item in data["results"]} == {"Drama"}
    assert all(item["p_like"] == pytest.approx(0.5) for item in data["results"])


def test_uncertainty_queue_still_hides_answered_and_adult_titles(alice_client, alice, catalog):
    plant_scores(alice, catalog, lambda a: 0.5 if a.is_adult or a.mal_id < 1010 else 0.99)
    Label.objects.create(user=alice, anime=catalog[0], answer="dislike")
    ids = queue_ids(alice_client, limit=9)
    assert catalog[0].mal_id not in ids
    assert not [m for m in ids if m >= 5000]
    assert set(ids) == {a.mal_id for a in catalog[1:10]}


def test_the_stored_ask_order_comes_first_minus_what_was_answered_since(
    alice_client, alice, catalog
):
    # Confident titles in the stored order still come first: the order, not P(like), says
    # which answers teach the model most. Then the titles closest to 0.5.
    ask = [1050, 1051, 5000, 1052, 99999]  # an adult title, and one no longer in the catalog
    plant_scores(alice, catalog, lambda a: 0.5 if a.mal_id < 1003 else 0.99, ask=ask)
    Label.objects.create(user=alice, anime_id=1051, answer="like")
    assert queue_ids(alice_client, limit=5) == [1050, 1052, 1000, 1001, 1002]


def test_exploration_share_fills_the_end_of_the_page(alice_client, alice, catalog, settings):
    settings.TASTE_EXPLORATION = 0.2
    plant_scores(alice, catalog, lambda a: 0.5 if a.mal_id < 1010 else 0.99, ask=[1090])
    data = alice_client.get(QUEUE, {"limit": 10}).json()["results"]
    assert [item["reason"] for item in data] == ["uncertainty"] * 8 + ["exploration"] * 2
    assert [item["mal_id"] for item in data[:8]] == [1090, *range(1000, 1007)]
    assert len({item["mal_id"] for item in data}) == 10
    assert not [item for item in data if item["mal_id"] >= 5000]


def test_one_members_labels_do_not_change_anothers_queue(client, alice, charlie, catalog):
    client.force_login(charlie)
    before = queue_ids(client, limit=10)
    for anime in catalog[:30]:
        Label.objects.create(user=alice, anime=anime, answer="like")
    plant_scores(alice, catalog, lambda a: 0.5)
    assert queue_ids(client, limit=10) == before
    assert client.get(QUEUE).json()["strategy"] == "cold_start"


def test_the_queue_repeats_itself_until_the_next_answer(alice_client, alice, catalog):
    assert queue_ids(alice_client, 10) == queue_ids(alice_client, 10)


@pytest.mark.parametrize("limit", ["0", "51", "ten"])
def test_queue_limit_is_validated(alice_client, catalog, limit):
    resp = alice_client.get(QUEUE, {"limit": limit})
    assert resp.status_code == 400
    assert "limit" in resp.json()


def test_queue_is_only_for_members(client, catalog):
    assert client.get(QUEUE).status_code == 403


def test_hidden_titles_crowding_the_uncertain_zone_do_not_shorten_the_page(
    alice_client, alice, catalog
):
    from tests.catalog.factories import AnimeFactory

    adult = [AnimeFactory(mal_id=6000 + i, genres=["Hentai"], is_adult=True) for i in range(30)]
    # The model is unsure only about adult titles; the page must still fill with others.
    plant_scores(
        alice,
        catalog + adult,
        lambda a: 0.5 if a.is_adult else (0.7 if a.mal_id < 1005 else 0.99),
    )
    ids = queue_ids(alice_client, limit=5)
    assert sorted(ids) == [1000, 1001, 1002, 1003, 1004]


def test_cold_start_order_is_cached_per_catalog_version(alice_client, catalog, settings):
    import datetime as dt

    from django.utils import timezone

    from catalog.models import Anime

    before = queue_ids(alice_client, limit=5)
    folder = settings.MODEL_DIR / "taste" / "cold_start"
    first = list(folder.glob("*.npy"))
    assert len(first) == 1
    # A sync makes the catalog's most popular title new: the next queue starts with it.
    newest = catalog[-5]
    Anime.objects.filter(pk=newest.pk).update(
        popularity=0, num_list_users=9_000_000, updated_at=timezone.now() + dt.timedelta(1)
    )
    after = queue_ids(alice_client, limit=5)
    files = list(folder.glob("*.npy"))
    assert len(files) == 1 and files != first
    assert newest.mal_id in after and newest.mal_id not in before
