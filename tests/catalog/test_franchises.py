"""Franchise grouping (MAL relations, title fallback on the real catalog) and collapsing."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from catalog.franchises import (
    FranchiseIndex,
    TitleFacts,
    franchise_collapse,
    franchise_index,
    franchise_index_build,
    franchise_index_invalidate,
    title_key,
)
from catalog.models import Anime, AnimeRelation
from tests.conftest import SHARED_DATA

BEBOP, BEBOP_MOVIE = 1, 5
FMA, FMA_B = 121, 5114
STEINS_GATE, STEINS_GATE_MOVIE, STEINS_GATE_SPECIAL = 9253, 11577, 10863
BAKUMAN, BAKUMAN_2, BAKUMAN_3 = 7674, 10030, 12365
CLANNAD, CLANNAD_AFTER_STORY, CLANNAD_MOVIE = 2167, 4181, 1723
DEATH_NOTE = 1535
FAN = {BEBOP, FMA_B}  # the issue's user: a fan of Cowboy Bebop and FMA: Brotherhood


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("Bakuman. 3rd Season", "bakuman"),
        ("Steins;Gate Movie: Fuka Ryouiki no Déjà vu", "steins gate"),
        ("Clannad: After Story - Mou Hitotsu no Sekai, Kyou-hen", "clannad"),
        ("Haikyuu!! Second Season", "haikyuu"),
        ("Shingeki no Kyojin Season 3 Part 2", "shingeki no kyojin"),
        ("Re:Zero kara Hajimeru 2nd Season", "re zero kara hajimeru"),
        ("Re:Creators", "re creators"),  # "Re:" is part of the name, not a subtitle
        ("Gintama°", "gintama"),
        ("Steins;Gate 0", "steins gate"),
        ("Teekyuu 4", "teekyuu"),
        ("Hunter x Hunter (2011)", "hunter x hunter 2011"),  # a remake is its own series
        ("JoJo no Kimyou na Bouken (TV)", "jojo no kimyou na bouken"),
        ("Death Note", "death note"),
    ],
)
def test_title_key_strips_subtitles_and_season_suffixes(title, key):
    assert title_key(title) == key


@pytest.fixture(scope="module")
def catalog_index(django_db_setup, django_db_blocker):
    """The real 13,494-title catalog imported from CSV: no relations, title fallback only."""
    with django_db_blocker.unblock():
        call_command("import_catalog", str(SHARED_DATA), "--no-progress")
        franchise_index_invalidate()
        index = franchise_index(show_adult=False)
        titles = dict(Anime.objects.values_list("mal_id", "title"))
        Anime.objects.all().delete()
    franchise_index_invalidate()
    return index, titles


def test_csv_catalog_groups_the_issue_examples_by_title(catalog_index):
    index, titles = catalog_index
    assert index.entry_point(STEINS_GATE_MOVIE) == STEINS_GATE
    assert index.entry_point(BAKUMAN_3) == BAKUMAN
    assert index.entry_point(CLANNAD_AFTER_STORY) == CLANNAD
    assert index.entry_point(CLANNAD_MOVIE) == CLANNAD  # the TV series, not the earlier-id film
    assert index.entry_point(BEBOP_MOVIE) == BEBOP
    assert index.members(BAKUMAN)[:3] == (BAKUMAN, BAKUMAN_2, BAKUMAN_3)
    assert index.members(DEATH_NOTE) == (DEATH_NOTE,)
    # "Re:" is not a series name: Re:Zero and Re:Creators stay apart.
    re_zero = next(m for m, t in titles.items() if t == "Re:Zero kara Hajimeru Isekai Seikatsu")
    re_creators = next(m for m, t in titles.items() if t == "Re:Creators")
    assert index.franchise_id(re_zero) != index.franchise_id(re_creators)
    # Groups stay plausible: no franchise swallows a large part of the catalog.
    assert max(len(m) for m in index.members_of.values()) < 100


def test_fan_of_bebop_and_fma_gets_entry_points_not_sequels(catalog_index):
    index, titles = catalog_index
    # What the engines ranked for this user before franchises were taken into account.
    ranked = [
        (STEINS_GATE_MOVIE, 9.1),
        (BAKUMAN_3, 8.9),
        (CLANNAD_AFTER_STORY, 8.8),
        (BEBOP_MOVIE, 8.7),  # a film of a series the fan has watched: allowed
        (STEINS_GATE, 8.5),  # same franchise as the first card: collapsed into it
        (DEATH_NOTE, 8.4),
    ]
    cards = franchise_collapse(ranked, watched=FAN, index=index)
    shown = [c.mal_id for c in cards]
    assert shown == [STEINS_GATE, BAKUMAN, CLANNAD, BEBOP_MOVIE, DEATH_NOTE]
    assert [titles[m] for m in shown[:3]] == ["Steins;Gate", "Bakuman.", "Clannad"]
    assert cards[0].candidates == (STEINS_GATE_MOVIE, STEINS_GATE) and cards[0].replaced
    assert cards[0].score == 9.1 and cards[0].franchise_size >= 4
    assert not cards[4].replaced and cards[4].franchise_size == 1


def _index(*titles: TitleFacts, relations=()) -> FranchiseIndex:
    return franchise_index_build(titles, relations)


def test_watched_entry_point_moves_the_card_to_the_next_unwatched_entry():
    index = _index(
        TitleFacts(1, "Saga", "tv", "2010-04"),
        TitleFacts(2, "Saga 2nd Season", "tv", "2011-04"),
        TitleFacts(3, "Saga 3rd Season", "tv", "2012-04"),
        TitleFacts(4, "Saga Specials", "special", "2012-09"),
    )
    assert franchise_collapse([(3, 1.0)], watched={1}, index=index)[0].mal_id == 2
    assert franchise_collapse([(3, 1.0)], watched={1, 2}, index=index)[0].mal_id == 3
    # The whole story watched: an extra may still be offered, but nothing watched.
    assert [c.mal_id for c in franchise_collapse([(4, 1.0)], watched={1, 2, 3}, index=index)] == [4]
    assert franchise_collapse([(1, 1.0)], watched={1, 2, 3, 4}, index=index) == []


def test_excluded_entry_point_drops_the_franchise_and_excluded_titles_never_show():
    index = _index(TitleFacts(1, "Saga", "tv"), TitleFacts(2, "Saga Movie", "movie"))
    assert franchise_collapse([(2, 1.0)], watched=(), exclude={1}, index=index) == []
    index = _index(TitleFacts(7, "Solo", "tv"))
    assert franchise_collapse([(7, 1.0)], watched=(), exclude={7}, index=index) == []
    assert franchise_collapse([(99, 1.0)], watched=(), index=index)[0].mal_id == 99  # unknown


def test_relations_win_over_titles_and_only_story_relations_group():
    titles = [
        TitleFacts(10, "Alpha", "tv", "2000-01", members=500, relations_synced=True),
        TitleFacts(11, "Alpha Reborn", "tv", "2009-01", members=900, relations_synced=True),
        TitleFacts(12, "Alpha: The Movie", "movie", "2001-01", relations_synced=True),
        TitleFacts(13, "Beta Crossover", "tv", "2003-01", relations_synced=True),
        # Synced titles with the same name but no relation stay apart.
        TitleFacts(14, "Alpha 2nd Season", "tv", "2002-01", relations_synced=True),
    ]
    relations = [
        (10, 11, "alternative_version"),
        (11, 10, "alternative_version"),
        (10, 12, "sequel"),
        (12, 10, "prequel"),
        (10, 13, "character"),
    ]
    index = _index(*titles, relations=relations)
    # Two alternative versions both start the story: the one more people watched.
    assert index.entry_point(12) == 11
    assert set(index.members(10)) == {10, 11, 12}
    assert index.members(13) == (13,) and index.members(14) == (14,)


@pytest.mark.django_db
def test_index_from_the_database_uses_synced_relations(settings):
    now = "2026-01-01T00:00:00Z"
    Anime.objects.create(mal_id=1, title="First", media_type="tv", relations_synced_at=now)
    Anime.objects.create(mal_id=2, title="Other Name", media_type="movie", relations_synced_at=now)
    Anime.objects.create(mal_id=3, title="Adult", media_type="ova", is_adult=True)
    AnimeRelation.objects.create(anime_id=2, related_id=1, relation_type="prequel")
    AnimeRelation.objects.create(anime_id=1, related_id=2, relation_type="sequel")
    franchise_index_invalidate()
    index = franchise_index(show_adult=False)
    assert index.members(2) == (1, 2)
    assert 3 not in index.franchise_of and index.members(3) == (3,)
    assert index.hidden == {3}  # left out as adult, so rankings can drop it unread
    assert franchise_index(show_adult=True).hidden == frozenset()
    # A title added after the build is not hidden: it stands alone until the next rebuild.
    Anime.objects.create(mal_id=4, title="Brand New", media_type="tv")
    index = franchise_index(show_adult=False)
    assert 4 not in index.hidden and index.members(4) == (4,)
    franchise_index_invalidate()


@pytest.mark.django_db
def test_visitors_and_members_each_keep_their_index(django_assert_num_queries):
    # Adult visibility differs per viewer: alternating views must not rebuild the index.
    Anime.objects.create(mal_id=1, title="First", media_type="tv")
    Anime.objects.create(mal_id=3, title="Adult", media_type="ova", is_adult=True)
    franchise_index_invalidate()
    shown, hidden = franchise_index(show_adult=True), franchise_index(show_adult=False)
    with django_assert_num_queries(0):
        for _ in range(3):
            assert franchise_index(show_adult=True) is shown
            assert franchise_index(show_adult=False) is hidden
    assert hidden.hidden == {3} and shown.hidden == frozenset()
    franchise_index_invalidate()
    assert franchise_index(show_adult=True) is not shown
