from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import reverse

from .factories import AnimeFactory

pytestmark = pytest.mark.django_db

BROWSE = "/anime/"
EVIL = "<script>alert('x')</script>"


@pytest.fixture
def titles():
    AnimeFactory(
        mal_id=16498,
        title="Shingeki no Kyojin",
        title_english="Attack on Titan",
        title_japanese="進撃の巨人",
        synonyms=["AoT", "SnK"],
        genres=["Action", "Drama"],
        studios=["Wit Studio"],
        mean=8.54,
        popularity=2,
        rank=100,
        start_year=2013,
        start_season="spring",
        start_date="2013-04-07",
        end_date="2013-09-29",
        num_episodes=25,
        source="manga",
        rating="r",
        num_list_users=3_744_000,
        num_scoring_users=2_600_000,
        num_favorites=160_000,
        average_episode_duration=1440,
        synopsis="Centuries ago, mankind was slaughtered.",
        picture_medium="https://cdn.example/aot-m.jpg",
        picture_large="https://cdn.example/aot-l.jpg",
    )
    AnimeFactory(
        mal_id=1,
        title="Cowboy Bebop",
        genres=["Action", "Sci-Fi"],
        studios=["Sunrise"],
        mean=8.8,
        popularity=40,
        start_year=1998,
    )
    AnimeFactory(
        mal_id=5,
        title="Tengoku no Tobira",
        media_type="movie",
        mean=None,
        genres=["Action"],
        start_season="",
        start_year=2001,
    )
    AnimeFactory(mal_id=666, title="Adult Title", is_adult=True, genres=["Hentai"], mean=9.9)


def titles_on(response) -> list[str]:
    assert response.status_code == 200, response.content[:500]
    return [a.title for a in response.context["anime_list"]]


def test_home_is_a_landing_page(client, titles):
    response = client.get(reverse("catalog:home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'action="/anime/"' in html and 'name="q"' in html
    assert [a.title for a in response.context["top_rated"]][:2] == [
        "Cowboy Bebop",
        "Shingeki no Kyojin",
    ]
    assert [a.title for a in response.context["most_popular"]][0] == "Shingeki no Kyojin"
    assert "Adult Title" not in html and "Hentai" not in html
    assert 'href="/anime/?genre=Sci-Fi"' in html


def test_home_works_on_an_empty_catalog(client):
    assert "import_catalog" in client.get("/").content.decode()


@pytest.mark.parametrize("q", ["Attack on Titan", "進撃の巨人", "snk", "shingeki"])
def test_browse_searches_every_title_kind(client, titles, q):
    assert titles_on(client.get(BROWSE, {"q": q})) == ["Shingeki no Kyojin"]


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"genre": ["Action", "Sci-Fi"]}, ["Cowboy Bebop"]),
        ({"type": "movie"}, ["Tengoku no Tobira"]),
        ({"season": "spring", "year": "2013"}, ["Shingeki no Kyojin"]),
        ({"status": "finished_airing", "min_score": "8.6"}, ["Cowboy Bebop"]),
        ({"studio": "Wit Studio"}, ["Shingeki no Kyojin"]),
        ({"sort": "title"}, ["Cowboy Bebop", "Shingeki no Kyojin", "Tengoku no Tobira"]),
        # What an untouched filter form submits: every field blank.
        (
            {
                "q": "",
                "type": "",
                "season": "",
                "year": "",
                "status": "",
                "min_score": "",
                "sort": "",
            },
            ["Cowboy Bebop", "Shingeki no Kyojin", "Tengoku no Tobira"],
        ),
    ],
)
def test_browse_filters_and_sort(client, titles, query, expected):
    assert titles_on(client.get(BROWSE, query)) == expected


def test_browse_controls_echo_the_current_filters(client, titles):
    html = client.get(
        BROWSE, {"genre": "Action", "type": "movie", "sort": "newest"}
    ).content.decode()
    assert re.search(r'value="Action"\s+checked', html)
    assert '<option value="movie" selected>' in html
    assert '<option value="newest" selected>' in html


def test_browse_pagination_keeps_the_query_string(client, titles):
    response = client.get(BROWSE, {"genre": "Action", "page_size": 1, "page": 2})
    assert titles_on(response) == ["Shingeki no Kyojin"]
    html = response.content.decode()
    assert 'href="?genre=Action&amp;page_size=1&amp;page=3" rel="next"' in html
    assert 'href="?genre=Action&amp;page_size=1&amp;page=1" rel="prev"' in html
    assert "Page 2 of 3" in html
    # A page past the end shows the last page rather than an error.
    assert titles_on(client.get(BROWSE, {"genre": "Action", "page_size": 1, "page": 9})) == [
        "Tengoku no Tobira"
    ]


@pytest.mark.parametrize(
    "query, message",
    [
        ({"min_score": "abc"}, "min score"),
        ({"min_score": "11"}, "less than or equal to 10"),
        ({"year": "1800"}, "greater than or equal to 1900"),
        ({"page": "0"}, "page"),
        ({"page_size": "1000"}, "page size"),
        ({"sort": "bogus"}, "not a valid choice"),
        ({"type": "bogus"}, "type"),
        ({"genre": "Nope"}, "Unknown genre: Nope"),
    ],
)
def test_browse_bad_filter_is_a_friendly_400(client, titles, query, message):
    response = client.get(BROWSE, query)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="alert error"' in html and "Some filters could not be used" in html
    assert message in html
    assert 'name="q"' in html  # the form is still there to fix it


def test_bad_filter_values_are_escaped_when_echoed(client, titles):
    html = client.get(BROWSE, {"q": EVIL, "min_score": EVIL}).content.decode()
    assert EVIL not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


def test_adult_titles_hidden_on_pages_by_default(client, titles):
    assert "Adult Title" not in titles_on(client.get(BROWSE))
    assert client.get("/anime/666/").status_code == 404


def test_adult_titles_shown_on_pages_when_enabled(client, titles, settings):
    settings.SHOW_ADULT_CONTENT = True
    assert titles_on(client.get(BROWSE))[0] == "Adult Title"
    assert client.get("/anime/666/").status_code == 200


def test_title_page_shows_the_facts(client, titles):
    response = client.get(reverse("catalog:anime-detail", args=[16498]))
    assert response.status_code == 200
    html = response.content.decode()
    for fact in [
        "Shingeki no Kyojin",
        "Attack on Titan",
        "進撃の巨人",
        "AoT, SnK",
        "Centuries ago, mankind was slaughtered.",
        "TV",
        "25",
        "Finished airing",
        "2013-04-07 to 2013-09-29",
        "Spring 2013",
        "Manga",
        "24 min per ep.",
        "R - 17+ (violence &amp; profanity)",
        "8.54",
        "2,600,000",
        "#100",
        "#2",
        "3,744,000",
        "160,000",
        'href="https://myanimelist.net/anime/16498"',
        'href="/anime/?genre=Action"',
        'href="/anime/?studio=Wit%20Studio"',
        'href="/anime/?season=spring&amp;year=2013"',
        'src="https://cdn.example/aot-l.jpg"',
    ]:
        assert fact in html, fact


def test_title_page_unknown_id_is_404(client, titles):
    assert client.get("/anime/424242/").status_code == 404


def test_catalog_text_is_escaped_everywhere(client):
    AnimeFactory(
        mal_id=7,
        title=f"Evil {EVIL}",
        title_english=EVIL,
        synonyms=[EVIL],
        synopsis=f"Plot {EVIL}",
        genres=[EVIL],
        studios=[EVIL],
    )
    for url in ["/", BROWSE, "/anime/7/", f"{BROWSE}?q=evil"]:
        html = client.get(url).content.decode()
        assert EVIL not in html, url
        assert "&lt;script&gt;" in html, url


def test_missing_picture_gets_the_placeholder(client, titles):
    cards = client.get(BROWSE, {"q": "bebop"}).content.decode()
    assert re.search(
        r'<img class="poster-img is-placeholder" src="/static/img/'
        r'poster-placeholder.svg"',
        cards,
    )
    detail = client.get("/anime/1/").content.decode()
    assert "/static/img/poster-placeholder.svg" in detail


def test_broken_picture_falls_back_through_a_static_script(client, titles):
    html = client.get(BROWSE, {"q": "titan"}).content.decode()
    assert re.search(
        r'src="https://cdn.example/aot-m.jpg"[^>]*'
        r'data-fallback="/static/img/poster-placeholder.svg"',
        html,
    )
    assert '<script src="/static/js/posters.js" defer></script>' in html
    for url in ["/", BROWSE, "/anime/16498/"]:
        page = client.get(url).content.decode()
        # No inline script or handler attributes: a strict CSP stays possible.
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), url
        assert not re.search(r"\son[a-z]+=", page), url
        assert not re.search(
            r"""(?:src|href)=["'](?:https?:)?//(?!cdn\.example|myanimelist)""", page
        ), url


def test_static_assets_exist():
    for path in ["img/poster-placeholder.svg", "js/posters.js", "css/site.css"]:
        assert finders.find(path), path


def test_page_query_budget(client, mini_data, django_assert_max_num_queries):
    call_command("import_catalog", str(mini_data), "--no-progress")
    # Facets (genres, years, types) + genre check + count + page + genres + studios.
    with django_assert_max_num_queries(8):
        response = client.get(BROWSE, {"page_size": 100, "genre": "Action"})
    assert len(response.context["anime_list"]) == 100
    client.get("/anime/1/")  # builds this process's franchise index (2 queries, kept 5 min)
    # Title + genres + studios, then similar titles: candidates and their rows.
    with django_assert_max_num_queries(5):
        assert client.get("/anime/1/").status_code == 200
    # Two rows of cards + genre chips.
    with django_assert_max_num_queries(7):
        assert client.get("/").status_code == 200
    assert "Cowboy Bebop" in client.get(BROWSE, {"q": "bebop"}).content.decode()
