from __future__ import annotations

import pytest
from django.core.management import call_command

from catalog.filters import AnimeSearchInputSerializer, AnimeSearchParams, Sort
from catalog.selectors import (
    anime_filter_options,
    anime_get,
    anime_search,
    anime_year_list,
    genre_list,
)

from .factories import AnimeFactory

pytestmark = pytest.mark.django_db


def search(show_adult: bool = False, **query) -> list[int]:
    filters = AnimeSearchInputSerializer(data=query)
    filters.is_valid(raise_exception=True)
    return [a.mal_id for a in anime_search(params=filters.to_params(), show_adult=show_adult)]


@pytest.fixture
def titles():
    return {
        "aot": AnimeFactory(
            mal_id=16498,
            title="Shingeki no Kyojin",
            title_english="Attack on Titan",
            title_japanese="進撃の巨人",
            synonyms=["AoT", "SnK"],
            genres=["Action", "Drama"],
            studios=["Wit Studio"],
            mean=8.5,
            popularity=2,
            start_season="spring",
            start_year=2013,
        ),
        "bebop": AnimeFactory(
            mal_id=1,
            title="Cowboy Bebop",
            title_japanese="カウボーイビバップ",
            genres=["Action", "Sci-Fi"],
            studios=["Sunrise"],
            mean=8.8,
            popularity=40,
            start_season="spring",
            start_year=1998,
        ),
        "movie": AnimeFactory(
            mal_id=5,
            title="Tengoku no Tobira",
            media_type="movie",
            synonyms=["Knockin' on Heaven's Door"],
            genres=["Action"],
            mean=None,
            popularity=None,
            start_season="",
            start_year=2001,
            status="finished_airing",
        ),
        "airing": AnimeFactory(
            mal_id=50,
            title="Zeta Airing",
            status="currently_airing",
            genres=["Drama"],
            mean=6.1,
            popularity=900,
            start_season="fall",
            start_year=2013,
        ),
        "adult": AnimeFactory(
            mal_id=666, title="Adult Title", is_adult=True, genres=["Hentai"], mean=9.9
        ),
    }


@pytest.mark.parametrize(
    "q, expected",
    [
        ("attack on titan", [16498]),  # English
        ("進撃", [16498]),  # Japanese
        ("aot", [16498]),  # synonym, any case
        ("SHINGEKI", [16498]),  # romaji, upper case
        ("heaven's door", [5]),  # synonym with punctuation
        ("bebop cowboy", [1]),  # every word must match, in any order
        ("  ", [1, 16498, 50, 5]),  # blank = no search
        ("100%", []),  # LIKE wildcards are literal
    ],
)
def test_search_matches_every_title_kind(titles, q, expected):
    assert search(q=q) == expected


def test_genres_combine_with_and(titles):
    assert sorted(search(genre=["Action"])) == [1, 5, 16498]
    assert search(genre=["action", "DRAMA"]) == [16498]


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"type": "movie"}, [5]),
        ({"season": "fall"}, [50]),
        ({"year": 2013}, [16498, 50]),
        ({"status": "currently_airing"}, [50]),
        ({"min_score": 8.6}, [1]),
        ({"studio": "sunrise"}, [1]),
        ({"genre": ["Action"], "year": 2013, "min_score": 8}, [16498]),
    ],
)
def test_each_filter_narrows_results(titles, query, expected):
    assert search(**query) == expected


@pytest.mark.parametrize(
    "sort, expected",
    [
        (Sort.SCORE, [1, 16498, 50, 5]),  # unscored last
        (Sort.POPULARITY, [16498, 1, 50, 5]),  # rank 1 = most popular; unranked last
        (Sort.NEWEST, [50, 16498, 5, 1]),  # fall 2013 before spring 2013
        (Sort.TITLE, [1, 16498, 5, 50]),
    ],
)
def test_sort_orders_with_nulls_last(titles, sort, expected):
    assert search(sort=sort) == expected


def test_adult_titles_hidden_unless_asked(titles):
    assert 666 not in search()
    assert search(show_adult=True)[0] == 666
    assert anime_get(mal_id=666, show_adult=False) is None
    assert anime_get(mal_id=666, show_adult=True).title == "Adult Title"
    assert "Hentai" not in {g.name for g in genre_list(show_adult=False)}
    assert "Hentai" in {g.name for g in genre_list(show_adult=True)}


def test_anime_get_unknown_is_none(titles):
    assert anime_get(mal_id=424242, show_adult=True) is None


def test_facets(titles):
    counts = {g.name: g.anime_count for g in genre_list(show_adult=False)}
    assert counts == {"Action": 3, "Drama": 2, "Sci-Fi": 1}
    assert anime_year_list(show_adult=False) == [2013, 2001, 1998]  # adult title's 2010 hidden
    options = anime_filter_options(show_adult=False)
    assert options.media_types == [("tv", "TV"), ("movie", "Movie")]


def test_search_page_costs_four_queries_whatever_the_size(mini_data, django_assert_num_queries):
    call_command("import_catalog", str(mini_data), "--no-progress")
    qs = anime_search(params=AnimeSearchParams(page_size=100), show_adult=False)
    # count + page + genres + studios, independent of the number of titles shown.
    with django_assert_num_queries(4):
        assert qs.count() > 1000
        page = list(qs[:100])
        links = sum(len(a.genres.all()) + len(a.studios.all()) for a in page)
    assert links > 100
