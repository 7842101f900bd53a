from __future__ import annotations

import re

import pytest
from django.core.management import call_command

from .factories import AnimeFactory

pytestmark = pytest.mark.django_db

LIST = "/api/anime/"


@pytest.fixture
def titles():
    AnimeFactory(
        mal_id=16498,
        title="Shingeki no Kyojin",
        title_english="Attack on Titan",
        title_japanese="進撃の巨人",
        synonyms=["AoT"],
        genres=["Action", "Drama"],
        studios=["Wit Studio"],
        mean=8.5,
        popularity=2,
        start_year=2013,
        start_season="spring",
        rank=100,
        num_list_users=3_000_000,
    )
    AnimeFactory(
        mal_id=1,
        title="Cowboy Bebop",
        genres=["Action", "Sci-Fi"],
        studios=["Sunrise"],
        mean=8.8,
        popularity=40,
        start_year=1998,
        media_type="tv",
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
    AnimeFactory(
        mal_id=50,
        title="Zeta Airing",
        status="currently_airing",
        mean=6.1,
        start_season="fall",
        start_year=2013,
        genres=["Drama"],
    )
    AnimeFactory(mal_id=666, title="Adult Title", is_adult=True, genres=["Hentai"], mean=9.9)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [r["mal_id"] for r in response.json()["results"]]


@pytest.mark.parametrize("q", ["attack on titan", "進撃の巨人", "aot", "KYOJIN"])
def test_list_searches_english_japanese_synonym_and_romaji(client, titles, q):
    assert ids(client.get(LIST, {"q": q})) == [16498]


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"genre": ["Action", "Drama"]}, [16498]),
        ({"genre": "sci-fi"}, [1]),
        ({"type": "movie"}, [5]),
        ({"season": "fall"}, [50]),
        ({"year": "2013"}, [16498, 50]),
        ({"status": "currently_airing"}, [50]),
        ({"min_score": "8.6"}, [1]),
        ({"studio": "Wit Studio"}, [16498]),
        # Blank form fields mean "not set".
        (
            {"type": "", "year": "", "q": "", "page": "", "page_size": "", "sort": ""},
            [1, 16498, 50, 5],
        ),
    ],
)
def test_list_filters(client, titles, query, expected):
    assert ids(client.get(LIST, query)) == expected


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("score", [1, 16498, 50, 5]),
        ("popularity", [16498, 1, 5, 50]),
        ("newest", [50, 16498, 5, 1]),
        ("title", [1, 16498, 5, 50]),
    ],
)
def test_list_sorts(client, titles, sort, expected):
    assert ids(client.get(LIST, {"sort": sort})) == expected


def test_list_default_sort_is_score(client, titles):
    assert ids(client.get(LIST)) == [1, 16498, 50, 5]


def test_list_paginates_and_next_keeps_the_filters(client, titles):
    body = client.get(LIST, {"genre": "Action", "page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["previous"] is None
    assert "genre=Action" in body["next"] and "page=2" in body["next"]
    second = client.get(body["next"]).json()
    assert [r["mal_id"] for r in second["results"]] == [5]
    assert second["next"] is None and second["previous"]


def test_list_item_shape(client, titles):
    item = client.get(LIST, {"q": "bebop"}).json()["results"][0]
    assert item["title"] == "Cowboy Bebop" and item["mean"] == 8.8
    assert [g["name"] for g in item["genres"]] == ["Action", "Sci-Fi"]
    assert all(isinstance(g["id"], int) for g in item["genres"])
    assert item["mal_url"] == "https://myanimelist.net/anime/1"


def test_adult_titles_hidden_by_default(client, titles):
    assert 666 not in ids(client.get(LIST))
    assert ids(client.get(LIST, {"q": "adult"})) == []
    assert client.get("/api/anime/666/").status_code == 404
    assert "Hentai" not in [g["name"] for g in client.get("/api/genres/").json()]


def test_adult_titles_shown_when_enabled(client, titles, settings):
    settings.SHOW_ADULT_CONTENT = True
    assert ids(client.get(LIST))[0] == 666
    assert client.get("/api/anime/666/").json()["is_adult"] is True
    assert "Hentai" in [g["name"] for g in client.get("/api/genres/").json()]


@pytest.mark.parametrize(
    "query, param",
    [
        ({"min_score": "abc"}, "min_score"),
        ({"min_score": "11"}, "min_score"),
        ({"min_score": "-1"}, "min_score"),
        ({"min_score": "nan"}, "min_score"),
        ({"year": "1800"}, "year"),
        ({"year": "20x0"}, "year"),
        ({"page": "0"}, "page"),
        ({"page": "two"}, "page"),
        ({"page_size": "1000"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"sort": "bogus"}, "sort"),
        ({"type": "bogus"}, "type"),
        ({"season": "monsoon"}, "season"),
        ({"status": "cancelled"}, "status"),
        ({"genre": "Nope"}, "genre"),
        ({"studio": "Nope Studio"}, "studio"),
        ({"genre": [f"g{i}" for i in range(11)]}, "genre"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(client, titles, query, param):
    response = client.get(LIST, query)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == [param]
    assert isinstance(body[param], list) and body[param][0]


def test_several_bad_parameters_are_all_reported(client, titles):
    body = client.get(LIST, {"min_score": "11", "year": "1800", "sort": "bogus"}).json()
    assert set(body) == {"min_score", "year", "sort"}


def test_page_past_the_end_is_404_json(client, titles):
    response = client.get(LIST, {"page": 99})
    assert response.status_code == 404 and "detail" in response.json()


def test_detail_has_every_field(client, titles):
    body = client.get("/api/anime/16498/").json()
    assert body["title_english"] == "Attack on Titan"
    assert body["title_japanese"] == "進撃の巨人"
    assert body["synonyms"] == ["AoT"]
    assert body["studios"][0]["name"] == "Wit Studio" and isinstance(body["studios"][0]["id"], int)
    assert {g["name"] for g in body["genres"]} == {"Action", "Drama"}
    assert body["rank"] == 100 and body["num_list_users"] == 3_000_000
    for field in [
        "synopsis",
        "start_date",
        "end_date",
        "source",
        "rating",
        "rating_display",
        "num_scoring_users",
        "num_favorites",
        "average_episode_duration",
        "nsfw",
        "picture_large",
        "mal_updated_at",
        "popularity",
        "start_season",
        "start_year",
    ]:
        assert field in body


def test_detail_unknown_id_is_404_json(client, titles):
    response = client.get("/api/anime/424242/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No anime with this id."}


def test_genres_with_counts(client, titles):
    body = client.get("/api/genres/").json()
    assert [(g["name"], g["anime_count"]) for g in body] == [
        ("Action", 3),
        ("Drama", 2),
        ("Sci-Fi", 1),
    ]


def test_api_is_read_only(client, titles):
    assert client.post(LIST, {}).status_code == 405
    assert client.delete("/api/anime/1/").status_code == 405


def test_mini_catalog_search_and_query_budget(client, mini_data, django_assert_max_num_queries):
    call_command("import_catalog", str(mini_data), "--no-progress")
    # count + page + genres + studios (+ genre-name validation): flat for 100 titles.
    with django_assert_max_num_queries(5):
        body = client.get(LIST, {"page_size": 100, "genre": "Action"}).json()
    assert len(body["results"]) == 100
    with django_assert_max_num_queries(3):
        assert client.get("/api/anime/1/").json()["studios"][0]["name"] == "Sunrise"
    assert "Cowboy Bebop" in [
        r["title"] for r in client.get(LIST, {"q": "bebop"}).json()["results"]
    ]


def test_schema_documents_every_parameter(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    list_op = schema["paths"]["/api/anime/"]["get"]
    params = {p["name"]: p for p in list_op["parameters"]}
    assert set(params) >= {
        "q",
        "genre",
        "studio",
        "type",
        "season",
        "year",
        "status",
        "min_score",
        "sort",
        "page",
        "page_size",
    }
    assert all(p["in"] == "query" for p in params.values())
    assert params["genre"]["schema"]["type"] == "array"
    assert params["min_score"]["schema"]["maximum"] == 10
    assert set(params["sort"]["schema"]["enum"]) >= {"score", "popularity", "newest", "title"}
    assert {"200", "400"} <= set(list_op["responses"])
    detail_op = schema["paths"]["/api/anime/{mal_id}/"]["get"]
    assert {"200", "404"} <= set(detail_op["responses"])
    assert "/api/genres/" in schema["paths"]
    components = schema["components"]["schemas"]
    assert {"AnimeListItem", "AnimeDetail", "PaginatedAnimeList", "NamedRef"} <= set(components)


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_docs_render_without_a_cdn(client, url):
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    # Every asset is local (drf-spectacular-sidecar): no absolute http(s) src/href at all.
    assert not re.findall(r"""(?:src|href)=["']?(?:https?:)?//""", html), html
    assert "/static/drf_spectacular_sidecar/" in html
