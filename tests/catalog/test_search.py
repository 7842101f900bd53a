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
    ("fullmetal alchemist", 121),  # exact name beats the more popular Brotherhood
    ("fulmetal alchemist", 5114),  # typo: the most popular of the equally close
    ("naruto shipuden", 1735),  # typo: Naruto: Shippuuden
    ("cowboy bepop", 1),  # typo
    ("death note", 1535),
    ("one piece", 21),
    ("hunter x hunter", 136),  # exact name
    ("HxH", 136),  # a synonym, any case
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
