"""List controls on title pages and cards (with and without JavaScript), and My list."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import ListEntry

pytestmark = pytest.mark.django_db

FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


def test_title_page_shows_controls_to_members_and_a_login_link_to_others(client, alice, titles):
    anon = client.get("/anime/1/").content.decode()
    assert "Log in</a> to rate it" in anon and "data-list-controls" not in anon
    client.force_login(alice)
    page = client.get("/anime/1/").content.decode()
    assert 'action="/me/list/1/"' in page and "Add to list…" in page
    assert "list_controls.js" in page


def test_controls_work_without_javascript(alice_client, alice, titles):
    response = alice_client.post(
        "/me/list/1/",
        {"status": "completed", "score": "9", "episodes_watched": "12", "next": "/anime/1/"},
    )
    assert response.status_code == 302 and response["Location"] == "/anime/1/"
    entry = ListEntry.objects.get(user=alice)
    assert (entry.status, entry.score, entry.episodes_watched) == ("completed", 9, 12)
    page = alice_client.get("/anime/1/").content.decode()
    assert "Saved “Cowboy Bebop”." in page
    assert '<option value="completed" selected>' in page and '<option value="9" selected>' in page


def test_controls_by_fetch_return_the_fresh_partial(alice_client, alice, titles):
    response = alice_client.post(
        "/me/list/6/", {"status": "watching", "score": "", "compact": "1"}, **FETCH
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith("<form") and "<html" not in html
    assert '<option value="watching" selected>' in html and "Saved" in html
    assert 'name="compact" value="1"' in html
    # A score alone means seen; clearing everything removes the entry.
    alice_client.post("/me/list/30/", {"status": "", "score": "8"}, **FETCH)
    seen = ListEntry.objects.get(user=alice, anime_id=30)
    assert (seen.status, seen.episodes_watched) == ("completed", 12)  # all episodes, as MAL
    removed = alice_client.post("/me/list/6/", {"status": "", "score": ""}, **FETCH)
    assert "Removed" in removed.content.decode()
    assert not ListEntry.objects.filter(user=alice, anime_id=6).exists()


def test_not_interested_alone_hides_a_title(alice_client, alice, titles):
    alice_client.post("/me/list/5/", {"not_interested": "on"}, **FETCH)
    entry = ListEntry.objects.get(user=alice, anime_id=5)
    assert entry.not_interested and entry.status == ""
    # Off the list itself, on the not-interested tab only.
    assert [e.anime_id for e in alice_client.get("/me/list/").context["entries"]] == []
    hidden = alice_client.get("/me/list/", {"status": "not_interested"})
    assert [e.anime_id for e in hidden.context["entries"]] == [5]


def test_controls_reject_bad_values_and_keep_the_entry(alice_client, alice, titles):
    ListEntry.objects.create(user=alice, anime_id=1, status="completed", score=8)
    bad = alice_client.post("/me/list/1/", {"status": "binging", "score": "11"}, **FETCH)
    assert bad.status_code == 400
    assert "Select a valid choice" in bad.content.decode()
    plain = alice_client.post("/me/list/1/", {"status": "completed", "episodes_watched": "-3"})
    assert plain.status_code == 302
    assert "Not saved" in alice_client.get(plain["Location"]).content.decode()
    entry = ListEntry.objects.get(user=alice)
    assert (entry.status, entry.score, entry.episodes_watched) == ("completed", 8, 0)
    assert alice_client.post("/me/list/424242/", {"status": "completed"}).status_code == 404


def test_controls_refuse_open_redirects(alice_client, titles):
    response = alice_client.post(
        "/me/list/1/", {"status": "completed", "next": "https://evil.example/"}
    )
    assert response["Location"] == "/anime/1/"


def test_controls_need_csrf_and_a_login(alice, titles):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post("/me/list/1/", {"status": "completed"}).status_code == 403
    anon = Client()
    response = anon.post("/me/list/1/", {"status": "completed"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not ListEntry.objects.exists()


def test_browse_cards_carry_compact_controls_with_one_query(
    alice_client, alice, titles, django_assert_max_num_queries
):
    ListEntry.objects.create(user=alice, anime_id=6, status="watching", score=7)
    page = alice_client.get("/anime/").content.decode()
    assert page.count("data-list-controls") == 5
    assert page.count('name="compact" value="1"') == 5
    assert '<option value="watching" selected>' in page
    with django_assert_max_num_queries(12):  # the list state is one query, not one per card
        alice_client.get("/anime/")


def test_my_list_tabs_sort_filter_and_stats(alice_client, alice, titles):
    rows = [(1, "completed", 9), (5, "completed", 7), (6, "watching", None), (30, "dropped", 3)]
    for mal_id, status, score in rows:
        ListEntry.objects.create(user=alice, anime_id=mal_id, status=status, score=score)
    ListEntry.objects.create(user=alice, anime_id=32, not_interested=True)
    page = alice_client.get("/me/list/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Completed <small>2</small>" in html and "Not interested <small>1</small>" in html
    assert [e.anime_id for e in page.context["entries"]] != []
    assert {e.anime_id for e in page.context["entries"]} == {1, 5, 6, 30}
    stats = page.context["stats"]
    assert stats.entries == 4 and stats.scored == 3 and round(stats.mean_score, 2) == 6.33
    assert [b["count"] for b in stats.score_bars] == [0, 0, 1, 0, 0, 0, 1, 0, 1, 0]
    assert stats.genres[0] == {"name": "Action", "count": 3, "mean_score": 8.0, "pct": 100}
    assert 'class="score-chart"' in html and "Score distribution: 1: 0" in html
    completed = alice_client.get("/me/list/", {"status": "completed", "sort": "score"})
    assert [e.anime_id for e in completed.context["entries"]] == [1, 5]
    by_title = alice_client.get("/me/list/", {"q": "bebop", "sort": "title"})
    assert [e.anime_id for e in by_title.context["entries"]] == [1, 5]
    mecha = alice_client.get("/me/list/", {"genre": "Mecha"})
    assert [e.anime_id for e in mecha.context["entries"]] == [30]
    hidden = alice_client.get("/me/list/", {"status": "not_interested"})
    assert [e.anime_id for e in hidden.context["entries"]] == [32]
    assert alice_client.get("/me/list/", {"status": "binging"}).status_code == 400


def test_my_list_shows_titles_in_the_chosen_language(alice_client, alice, titles):
    from accounts.services import profile_update

    titles[30].title_english = "Neon Genesis Evangelion (EN)"
    titles[30].save()
    ListEntry.objects.create(user=alice, anime_id=30, status="completed", score=8)
    profile_update(user=alice, title_language="english")
    assert "Neon Genesis Evangelion (EN)" in alice_client.get("/me/list/").content.decode()


def test_my_list_escapes_titles(alice_client, alice):
    from tests.catalog.factories import AnimeFactory

    AnimeFactory(mal_id=777, title="<script>alert(1)</script>")
    ListEntry.objects.create(user=alice, anime_id=777, status="completed", score=5)
    html = alice_client.get("/me/list/").content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_adult_titles_follow_the_members_setting(alice_client, alice, settings):
    from accounts.services import profile_update
    from tests.catalog.factories import AnimeFactory

    settings.SHOW_ADULT_CONTENT = True
    AnimeFactory(mal_id=888, title="Adult title", is_adult=True)
    ListEntry.objects.create(user=alice, anime_id=888, status="completed", score=5)
    off = alice_client.get("/me/list/")
    assert "Adult title" not in off.content.decode() and off.context["stats"].hidden_adult == 1
    profile_update(user=alice, show_adult=True)
    assert "Adult title" in alice_client.get("/me/list/").content.decode()
    # The site's setting is the ceiling: the member's opt-in cannot lift it.
    settings.SHOW_ADULT_CONTENT = False
    assert "Adult title" not in alice_client.get("/me/list/").content.decode()


def test_personal_pages_are_login_only_and_show_only_the_owners_list(
    client, alice, charlie, titles
):
    ListEntry.objects.create(user=alice, anime_id=1, status="completed", score=9)
    for url in ["/me/list/", "/me/import/", "/me/settings/", "/me/delete/", "/me/list/export.xml"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    client.force_login(charlie)
    html = client.get("/me/list/").content.decode()
    assert "Cowboy Bebop" not in html and "Your list is empty." in html
    assert b"Cowboy Bebop" not in client.get("/me/list/export.xml").content
    client.post("/me/list/1/", {"status": "dropped", "score": "1"})
    assert ListEntry.objects.get(user=alice).score == 9


def test_export_pages_download_the_list(alice_client, alice, titles):
    ListEntry.objects.create(user=alice, anime_id=1, status="completed", score=9)
    xml = alice_client.get("/me/list/export.xml")
    assert xml["Content-Disposition"].startswith('attachment; filename="animelist_alice_')
    assert b"<series_title><![CDATA[Cowboy Bebop]]></series_title>" in xml.content
    csv_text = alice_client.get("/me/list/export.csv").content.decode()
    assert "1,Cowboy Bebop,completed,9,0,false," in csv_text


def test_public_list_only_when_the_member_opts_in(client, alice, charlie, titles):
    from accounts.services import profile_update

    ListEntry.objects.create(user=alice, anime_id=1, status="completed", score=9)
    ListEntry.objects.create(user=alice, anime_id=32, not_interested=True)
    client.force_login(charlie)
    assert client.get("/users/alice/list/").status_code == 404  # private by default
    assert client.get("/users/nobody/list/").status_code == 404
    profile_update(user=alice, list_private=False)
    page = client.get("/users/alice/list/")
    html = page.content.decode()
    assert page.status_code == 200 and "Cowboy Bebop" in html and "★ 9" in html
    assert "End of Evangelion" not in html  # "not interested" stays personal
    assert "data-list-controls" not in html  # read-only
    assert Client().get("/users/alice/list/").status_code == 200  # public means anyone


IMPORT_INVITATION = (
    'Your list is empty. <a href="/me/import/">Import your MyAnimeList list</a> or '
    '<a href="/anime/">browse titles</a> and rate what you have seen.'
)


def _empty_text(html: str) -> str:
    start = html.index('<p class="empty">') + len('<p class="empty">')
    return html[start : html.index("</p>", start)]


def test_an_empty_tab_says_what_it_holds(alice_client, alice, titles):
    ListEntry.objects.create(user=alice, anime_id=1, status="completed", score=9)
    ListEntry.objects.create(user=alice, anime_id=5, status="completed", score=7)
    expected = {
        "watching": "Nothing you are watching. Titles you mark Watching appear here.",
        "plan_to_watch": "Nothing you plan to watch. Titles you mark Plan to watch appear here.",
        "on_hold": "Nothing on hold. Titles you mark On hold appear here.",
        "dropped": "Nothing dropped. Titles you mark Dropped appear here.",
        "not_interested": "Nothing marked Not interested. Titles you mark Not interested are "
        "left out of your recommendations and appear here.",
    }
    for tab, text in expected.items():
        html = alice_client.get("/me/list/", {"status": tab}).content.decode()
        assert _empty_text(html) == text, tab
        assert "Import your MyAnimeList list</a> or" not in html
    completed = alice_client.get("/me/list/", {"status": "completed"}).content.decode()
    assert '<p class="empty">' not in completed and "Cowboy Bebop" in completed


def test_the_all_tab_of_a_list_with_only_not_interested_titles(alice_client, alice, titles):
    ListEntry.objects.create(user=alice, anime_id=32, not_interested=True)
    html = alice_client.get("/me/list/").content.decode()
    assert _empty_text(html) == (
        "No titles with a status yet. Titles you mark Watching, Completed, On hold, Dropped or "
        "Plan to watch appear here."
    )


def test_an_empty_list_invites_an_import_on_every_tab(alice_client, titles):
    for tab in ["", "watching", "completed", "not_interested"]:
        html = alice_client.get("/me/list/", {"status": tab, "q": "bebop"}).content.decode()
        assert _empty_text(html) == IMPORT_INVITATION, tab


def test_a_tab_whose_entries_the_filters_hide_says_so(alice_client, alice, titles):
    ListEntry.objects.create(user=alice, anime_id=1, status="completed", score=9)
    ListEntry.objects.create(user=alice, anime_id=6, status="watching")
    cleared = (
        'No entry on this tab matches the filters. <a href="?status=completed&amp;sort=title">'
        "Clear the filters</a>."
    )
    by_title = alice_client.get(
        "/me/list/", {"status": "completed", "q": "trigun", "sort": "title"}
    )
    assert _empty_text(by_title.content.decode()) == cleared
    by_genre = alice_client.get("/me/list/", {"status": "completed", "genre": "Mecha"})
    assert _empty_text(by_genre.content.decode()) == (
        'No entry on this tab matches the filters. <a href="?status=completed">'
        "Clear the filters</a>."
    )
    # The link really clears them: the tab's entry is back.
    again = alice_client.get("/me/list/", {"status": "completed", "sort": "title"})
    assert [e.anime_id for e in again.context["entries"]] == [1]
    # A tab that is empty anyway says what it holds, filters or not.
    dropped = alice_client.get("/me/list/", {"status": "dropped", "q": "trigun"})
    assert _empty_text(dropped.content.decode()).startswith("Nothing dropped.")


def test_the_owner_sees_whether_the_public_page_is_really_public(alice_client, alice, titles):
    ListEntry.objects.create(user=alice, anime_id=1, status="completed", score=9)
    private = "Your list is private: only you see this page."
    public = "Your list is public: anyone with this link sees it."
    settings_link = '<a href="/me/settings/">Change it in settings</a>.'
    html = alice_client.get("/users/alice/list/").content.decode()
    assert private in html and public not in html and settings_link in html
    assert Client().get("/users/alice/list/").status_code == 404  # private: a visitor gets 404
    # Untick "Keep my list private" in the real settings form.
    saved = alice_client.post("/me/settings/", {"title_language": "romaji"})
    assert saved.status_code == 302
    html = alice_client.get("/users/alice/list/").content.decode()
    assert public in html and private not in html and settings_link in html
    visitor = Client().get("/users/alice/list/").content.decode()
    assert "Cowboy Bebop" in visitor and public not in visitor and private not in visitor
    # And back.
    alice_client.post("/me/settings/", {"title_language": "romaji", "list_private": "on"})
    html = alice_client.get("/users/alice/list/").content.decode()
    assert private in html and public not in html
    assert Client().get("/users/alice/list/").status_code == 404


def test_a_long_list_reads_only_the_rows_of_the_cards_on_the_page(alice_client, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from catalog.models import Anime

    Anime.objects.bulk_create(
        Anime(mal_id=i, title=f"Title {i:04d}", num_list_users=10_000 - i) for i in range(1, 2001)
    )
    ListEntry.objects.bulk_create(
        ListEntry(user=alice, anime_id=i, status="completed", score=1 + i % 10)
        for i in range(1, 2001)
    )
    with CaptureQueriesContext(connection) as queries:
        page = alice_client.get("/anime/", {"sort": "popularity"}).content.decode()
    assert page.count('action="/me/list/') == 24  # 24 cards, each with its controls
    assert "Title 0001" in page and "Title 0025" not in page
    reads = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "accounts_listentry"' in q["sql"] and '"episodes_watched"' in q["sql"]
    ]
    # One read of list states, for the page's 24 titles only (not the member's 2,000).
    assert len(reads) == 1, reads
    assert reads[0].count(",") < 24 + 10 and '"anime_id" IN (' in reads[0]
