"""Issue 18: "Remove from list" removes any entry (scored or not) from the title page, the
My list rows and the API; episodes watched cannot exceed a title's known episode count."""

from __future__ import annotations

import pytest

from accounts.models import ListEntry
from tests.catalog.factories import AnimeFactory

pytestmark = pytest.mark.django_db

FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


@pytest.fixture
def shows(db):
    return {
        "naruto": AnimeFactory(mal_id=20, title="Naruto", num_episodes=220),
        "short": AnimeFactory(mal_id=2001, title="Tengen Toppa Gurren Lagann", num_episodes=27),
        "airing": AnimeFactory(mal_id=21, title="One Piece", num_episodes=None),
        "zero": AnimeFactory(mal_id=22, title="Airing Zero", num_episodes=0),
    }


def _scored_naruto(user) -> None:
    ListEntry.objects.create(
        user=user, anime_id=20, status="completed", score=7, episodes_watched=220
    )


def _assert_gone_everywhere(client, user) -> None:
    assert not ListEntry.objects.filter(user=user, anime_id=20).exists()
    title_page = client.get("/anime/20/").content.decode()
    assert "Add to list…" in title_page and "Remove from list" not in title_page
    assert '<option value="completed" selected>' not in title_page
    assert '<option value="7" selected>' not in title_page
    my_list = client.get("/me/list/")
    assert [e.anime_id for e in my_list.context["entries"]] == []
    assert 'action="/me/list/20/"' not in my_list.content.decode()


# -- Remove from list ---------------------------------------------------------------------


def test_title_page_offers_remove_for_a_listed_title(alice_client, alice, shows):
    _scored_naruto(alice)
    page = alice_client.get("/anime/20/").content.decode()
    assert '<option value="remove">Remove from list</option>' in page
    assert '<option value="completed" selected>' in page and '<option value="7" selected>' in page


def test_remove_a_scored_entry_from_the_title_page_by_fetch(alice_client, alice, shows):
    _scored_naruto(alice)
    # The form carries the score and episodes still selected beside "Remove from list".
    response = alice_client.post(
        "/me/list/20/",
        {"status": "remove", "score": "7", "episodes_watched": "220", "next": "/anime/20/"},
        **FETCH,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Removed" in html and "Saved" not in html
    assert "Add to list…" in html
    _assert_gone_everywhere(alice_client, alice)


def test_remove_a_scored_entry_from_the_title_page_without_javascript(alice_client, alice, shows):
    _scored_naruto(alice)
    response = alice_client.post(
        "/me/list/20/",
        {"status": "remove", "score": "7", "episodes_watched": "220", "next": "/anime/20/"},
    )
    assert response.status_code == 302 and response["Location"] == "/anime/20/"
    page = alice_client.get("/anime/20/").content.decode()
    assert "Removed “Naruto” from your list." in page
    _assert_gone_everywhere(alice_client, alice)


@pytest.mark.parametrize("by_fetch", [False, True])
def test_remove_a_scored_entry_from_a_my_list_row(alice_client, alice, shows, by_fetch):
    _scored_naruto(alice)
    ListEntry.objects.create(user=alice, anime_id=2001, status="watching", score=9)
    listed = alice_client.get("/me/list/")
    assert sorted(e.anime_id for e in listed.context["entries"]) == [20, 2001]
    # The row's compact form: no episodes field, the score still selected.
    response = alice_client.post(
        "/me/list/20/",
        {"status": "remove", "score": "7", "compact": "1", "next": "/me/list/"},
        **(FETCH if by_fetch else {}),
    )
    if by_fetch:
        assert response.status_code == 200 and "Removed" in response.content.decode()
    else:
        assert response.status_code == 302 and response["Location"] == "/me/list/"
    after = alice_client.get("/me/list/")
    assert [e.anime_id for e in after.context["entries"]] == [2001]  # the other row stays
    assert 'action="/me/list/20/"' not in after.content.decode()
    assert not ListEntry.objects.filter(user=alice, anime_id=20).exists()


def test_remove_keeps_a_not_interested_mark_the_member_kept(alice_client, alice, shows):
    ListEntry.objects.create(
        user=alice,
        anime_id=20,
        status="watching",
        score=4,
        episodes_watched=50,
        not_interested=True,
    )
    alice_client.post(
        "/me/list/20/",
        {"status": "remove", "score": "4", "episodes_watched": "50", "not_interested": "on"},
        **FETCH,
    )
    entry = ListEntry.objects.get(user=alice, anime_id=20)
    assert (entry.status, entry.score, entry.episodes_watched) == ("", None, 0)
    assert entry.not_interested
    assert [e.anime_id for e in alice_client.get("/me/list/").context["entries"]] == []
    hidden = alice_client.get("/me/list/", {"status": "not_interested"})
    assert [e.anime_id for e in hidden.context["entries"]] == [20]


def test_remove_of_a_title_not_on_the_list_is_harmless(alice_client, alice, shows):
    response = alice_client.post("/me/list/20/", {"status": "remove", "score": "7"}, **FETCH)
    assert response.status_code == 200 and "Removed" in response.content.decode()
    assert not ListEntry.objects.filter(user=alice).exists()


def test_delete_api_removes_a_scored_entry(alice_api, alice_client, alice, shows):
    created = alice_api.post(
        "/api/me/list/", {"mal_id": 20, "status": "completed", "score": 7}, format="json"
    )
    assert created.status_code == 201 and created.json()["episodes_watched"] == 0
    assert alice_api.delete("/api/me/list/20/").status_code == 204
    assert alice_api.get("/api/me/list/20/").status_code == 404
    assert alice_api.get("/api/me/list/").json()["count"] == 0
    assert alice_api.delete("/api/me/list/20/").status_code == 404
    _assert_gone_everywhere(alice_client, alice)


# -- episodes watched within the title's count --------------------------------------------


def test_patch_refuses_more_episodes_than_the_title_has(alice_api, alice, shows):
    alice_api.post(
        "/api/me/list/",
        {"mal_id": 2001, "status": "watching", "episodes_watched": 10},
        format="json",
    )
    bad = alice_api.patch("/api/me/list/2001/", {"episodes_watched": 5000}, format="json")
    assert bad.status_code == 400
    errors = bad.json()
    assert "episodes_watched" in errors
    assert "cannot exceed" in " ".join(errors["episodes_watched"])
    assert "27" in " ".join(errors["episodes_watched"])
    assert alice_api.get("/api/me/list/2001/").json()["episodes_watched"] == 10
    ok = alice_api.patch("/api/me/list/2001/", {"episodes_watched": 27}, format="json")
    assert ok.status_code == 200 and ok.json()["episodes_watched"] == 27


def test_post_refuses_more_episodes_than_the_title_has(alice_api, alice, shows):
    bad = alice_api.post(
        "/api/me/list/",
        {"mal_id": 2001, "status": "watching", "episodes_watched": 28},
        format="json",
    )
    assert bad.status_code == 400 and "episodes_watched" in bad.json()
    assert not ListEntry.objects.filter(user=alice).exists()


@pytest.mark.parametrize("mal_id", [21, 22])  # count unknown: None, or 0 as MAL sends
def test_unknown_episode_count_accepts_any_count(alice_api, alice, shows, mal_id):
    created = alice_api.post(
        "/api/me/list/",
        {"mal_id": mal_id, "status": "watching", "episodes_watched": 5000},
        format="json",
    )
    assert created.status_code == 201 and created.json()["episodes_watched"] == 5000
    more = alice_api.patch(f"/api/me/list/{mal_id}/", {"episodes_watched": 9999}, format="json")
    assert more.status_code == 200 and more.json()["episodes_watched"] == 9999
    negative = alice_api.patch(f"/api/me/list/{mal_id}/", {"episodes_watched": -1}, format="json")
    assert negative.status_code == 400 and "episodes_watched" in negative.json()


def test_a_stored_count_above_the_title_does_not_block_other_changes(alice_api, alice, shows):
    # E.g. imported before the catalog's count was corrected.
    ListEntry.objects.create(user=alice, anime_id=2001, status="watching", episodes_watched=30)
    ok = alice_api.patch("/api/me/list/2001/", {"score": 9}, format="json")
    assert ok.status_code == 200 and ok.json()["score"] == 9
    assert ok.json()["episodes_watched"] == 30
    higher = alice_api.patch("/api/me/list/2001/", {"episodes_watched": 31}, format="json")
    assert higher.status_code == 400 and "episodes_watched" in higher.json()


def test_title_page_form_refuses_more_episodes_than_the_title_has(alice_client, alice, shows):
    ListEntry.objects.create(user=alice, anime_id=2001, status="watching", episodes_watched=10)
    by_fetch = alice_client.post(
        "/me/list/2001/", {"status": "watching", "episodes_watched": "5000"}, **FETCH
    )
    assert by_fetch.status_code == 400
    html = by_fetch.content.decode()
    assert "Episodes watched (5000) cannot exceed" in html and 'class="error"' in html
    plain = alice_client.post(
        "/me/list/2001/",
        {"status": "watching", "episodes_watched": "5000", "next": "/anime/2001/"},
    )
    assert plain.status_code == 302
    page = alice_client.get(plain["Location"]).content.decode()
    assert "Not saved: Episodes watched (5000) cannot exceed" in page
    assert ListEntry.objects.get(user=alice, anime_id=2001).episodes_watched == 10
    # Unknown count on an airing show: the page takes any count.
    alice_client.post("/me/list/21/", {"status": "watching", "episodes_watched": "1100"})
    assert ListEntry.objects.get(user=alice, anime_id=21).episodes_watched == 1100
