"""Search finds what people type: real queries over the full 13,494-title catalog.

Runs on whichever database the suite uses (SQLite by default, PostgreSQL with
DATABASE_URL), through the public API, so both rankings are held to the same table.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from catalog import search
from catalog.records import normalize_name, search_text_of
from catalog.search import word_similarity

from .factories import AnimeFactory

# (what people type, the title that must come first)
REAL_QUERIES = [
    ("naruto", 20),  # exact title before Naruto: Shippuuden, Boruto...
    ("Shingeki no Kyojin", 16498),  # the main series before its seasons
    ("steins gate", 9253),  # Steins;Gate without the punctuation
    ("steins;gate 0", 30484),
    ("fullmetal alchemist brotherhood", 5114),  # "Fullmetal Alchemist: Brotherhood"
    # "Fullmetal Alchemist (2009)" is a MAL synonym of Brotherhood: exact once the year
    # is ignored, and far more popular than the 2003 series.
    ("fullmetal alchemist", 5114),
    ("fulmetal alchemist", 5114),  # typo: the most popular of the equally close
    ("naruto shipuden", 1735),  # typo: Naruto: Shippuuden
    ("cowboy bepop", 1),  # typo
    ("death note", 1535),
    ("one piece", 21),
    ("hunter x hunter", 11061),  # Hunter x Hunter (2011): exact but for "(2011)", popular
    ("HxH", 11061),  # a synonym ("HxH (2011)"), any case
    ("jujutsu kaisen", 40748),  # Jujutsu Kaisen (TV), 323k members, not the 8k ONA teaser
    ("kanon", 1530),  # Kanon (2006), the remake, before Kanon (synonym "Kanon (2002)")
    ("black jack", 2213),  # Black Jack (TV) before the OVA "Black Jack" (no rank)
    ("berserk", 33),  # popularity, not the qualifier, decides: Berserk before Berserk (2016)
    ("code geass", 1575),  # prefix of every Code Geass title: by popularity
    ("sword art online", 11757),
    ("evangelion", 30),  # a word of "Neon Genesis Evangelion", the most popular
    ("re:zero", 31240),
    ("kimi no na wa", 32281),
    ("k-on", 5680),
    ("toradora", 4224),
    ("gintama", 918),
    ("clannad after story", 4181),
    ("haikyu", 20583),  # prefix of "Haikyuu!!"
]


@pytest.mark.django_db
def test_real_queries_put_the_right_title_first(client, shared_data):
    """One import of the full catalog (seconds on PostgreSQL) serves every check here."""
    call_command("import_catalog", str(shared_data), "--no-progress")
    assert len(REAL_QUERIES) >= 15
    wrong = {}
    for query, expected in REAL_QUERIES:
        body = client.get("/api/anime/", {"q": query, "page_size": 5}).json()
        first = [r["mal_id"] for r in body["results"]]
        if not first or first[0] != expected:
            wrong[query] = (expected, [(r["mal_id"], r["title"]) for r in body["results"]])
    assert wrong == {}

    # The browse page ranks the same way, and says so in its sort control.
    page = client.get("/anime/", {"q": "naruto"}).content.decode()
    assert page.index('href="/anime/20/"') < page.index('href="/anime/1735/"')
    assert 'value="relevance" selected' in page

    # An explicit sort still applies to a search.
    body = client.get("/api/anime/", {"q": "naruto", "sort": "title", "page_size": 50}).json()
    titles = [r["title"].lower() for r in body["results"]]
    assert titles == sorted(titles) and len(titles) > 20
    assert titles[0] != "naruto"


def test_names_and_queries_are_normalised_alike():
    assert normalize_name("Steins;Gate") == normalize_name("steins gate") == "steins gate"
    assert normalize_name("Ｆｕｌｌｍｅｔａｌ　Alchemist:") == "fullmetal alchemist"
    assert normalize_name("Déjà vu") == "deja vu"
    assert normalize_name("がっこうぐらし！") == "がっこうぐらし"  # kana keep their marks
    assert search_text_of(["K-On!", "K-ON!", "Keion"]) == "|k on|keion|"


def test_word_similarity_forgives_typos_not_other_titles():
    fma = search_text_of(["Fullmetal Alchemist: Brotherhood", "FMA"])
    assert word_similarity("fulmetal alchemist", fma) > 0.8
    assert word_similarity("fullmetal alchemist", fma) == 1.0
    assert word_similarity("cowboy bebop", fma) < 0.2


@pytest.mark.django_db
def test_a_one_or_two_letter_word_must_start_a_word(client):
    """ "k on" means K-On!, not every title holding a "k" and an "on" somewhere."""
    AnimeFactory(mal_id=5680, title="K-On!", popularity=200)
    AnimeFactory(mal_id=1530, title="Kanon", popularity=100)  # "k", then "on" mid-word
    AnimeFactory(mal_id=31240, title="Re:Zero kara Hajimeru Isekai Seikatsu", popularity=50)
    AnimeFactory(mal_id=2, title="Bakemonogatari", popularity=10)  # "re"-less, "k" inside

    def found(q):
        return [r["mal_id"] for r in client.get("/api/anime/", {"q": q}).json()["results"]]

    assert found("k-on") == [5680]
    assert found("re zero") == [31240]
    assert found("kanon") == [1530]  # three letters and more still match inside words


@pytest.mark.django_db
def test_broad_queries_rank_and_count_like_pinned_ones(client, monkeypatch):
    """Up to MAX_PINNED_MATCHES the matches are read once and pinned by key; above it the
    name patterns stay in the query. Both must give the same page and count."""
    for n in range(6):
        AnimeFactory(mal_id=900 + n, title=f"Gate {n}", popularity=10 + n)
    AnimeFactory(mal_id=950, title="Gate", popularity=99)

    def page(q):
        body = client.get("/api/anime/", {"q": q, "page_size": 3}).json()
        return body["count"], [r["mal_id"] for r in body["results"]]

    pinned = page("gate")
    monkeypatch.setattr(search, "MAX_PINNED_MATCHES", 2)
    assert page("gate") == pinned == (7, [950, 900, 901])


@pytest.mark.django_db
def test_postgresql_connections_price_random_reads_for_ssd():
    """At PostgreSQL's default random_page_cost (4) the planner scans the whole catalog
    for every searched word instead of using the trigram index (2-3x slower searches)."""
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL connection setting")
    with connection.cursor() as cursor:
        cursor.execute("SHOW random_page_cost")
        assert float(cursor.fetchone()[0]) == 1.1


def _first_ids(client, q):
    return [r["mal_id"] for r in client.get("/api/anime/", {"q": q}).json()["results"]]


@pytest.mark.django_db
def test_a_trailing_qualifier_is_ignored_for_the_exact_tier(client):
    """Issue 23: "jujutsu kaisen" put the 8k-member ONA teaser before the TV series."""
    AnimeFactory(mal_id=38777, title="Jujutsu Kaisen", media_type="ona", popularity=3000)
    AnimeFactory(mal_id=40748, title="Jujutsu Kaisen (TV)", popularity=50)
    AnimeFactory(mal_id=1, title="Jujutsu Kaisen 0 Movie", popularity=10)  # partial

    assert _first_ids(client, "jujutsu kaisen") == [40748, 38777, 1]
    # A query that spells the qualifier still is an exact name (the ONA lacks "tv").
    assert _first_ids(client, "Jujutsu Kaisen (TV)") == [40748]

    page = client.get("/anime/", {"q": "jujutsu kaisen"}).content.decode()
    assert page.index('href="/anime/40748/"') < page.index('href="/anime/38777/"')
    assert page.index('href="/anime/38777/"') < page.index('href="/anime/1/"')


@pytest.mark.django_db
def test_exact_names_still_beat_more_popular_partial_matches(client):
    AnimeFactory(mal_id=32379, title="Berserk (2016)", popularity=500)
    AnimeFactory(mal_id=33, title="Berserk", popularity=300)
    AnimeFactory(mal_id=10218, title="Berserk: Ougon Jidai-hen I", popularity=5)
    AnimeFactory(mal_id=90, title="Berserk (2016) Recap", popularity=1)  # not a qualifier

    # Both exact names by popularity, then the partial matches however popular.
    assert _first_ids(client, "berserk") == [33, 32379, 90, 10218]
    # With its qualifier the query names one title exactly, before a popular prefix match.
    assert _first_ids(client, "berserk (2016)") == [32379, 90]
    # A synonym with a qualifier counts too; only one trailing qualifier is dropped.
    AnimeFactory(mal_id=5114, title="FMA: Brotherhood", synonyms=["FMA (2009)"], popularity=4)
    AnimeFactory(mal_id=121, title="FMA", popularity=49)
    AnimeFactory(mal_id=4071, title="FMA (TV): Specials", popularity=2)
    assert _first_ids(client, "fma") == [5114, 121, 4071]


@pytest.mark.django_db
def test_the_migration_gives_stored_titles_their_bare_names(client):
    """Titles stored before issue 23 get the bare name from migration 0006."""
    import importlib

    from django.apps import apps

    from catalog.models import Anime

    migration = importlib.import_module(
        "catalog.migrations.0006_search_text_names_without_qualifier"
    )
    AnimeFactory(mal_id=38777, title="Jujutsu Kaisen", popularity=3000)
    AnimeFactory(mal_id=40748, title="Jujutsu Kaisen (TV)", popularity=50)
    Anime.objects.filter(mal_id=40748).update(search_text="|jujutsu kaisen tv|")  # as before
    assert _first_ids(client, "jujutsu kaisen") == [38777, 40748]

    migration.rebuild_search_text(apps, None)
    assert Anime.objects.get(mal_id=40748).search_text == "|jujutsu kaisen tv|jujutsu kaisen|"
    assert _first_ids(client, "jujutsu kaisen") == [40748, 38777]
