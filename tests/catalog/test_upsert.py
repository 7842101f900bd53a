"""anime_upsert_many: the one writer of catalog rows."""

from __future__ import annotations

import pytest

from catalog.models import Anime, Genre
from catalog.records import AnimeRecord, NamedRef
from catalog.services import anime_upsert_many

pytestmark = pytest.mark.django_db


def record(mal_id: int, genres: list[NamedRef], **values) -> AnimeRecord:
    return AnimeRecord(mal_id=mal_id, values={"title": f"T{mal_id}", **values}, genres=genres)


def test_renamed_genre_follows_its_mal_id():
    anime_upsert_many(records=[record(1, [NamedRef("Slice Of Life", 36)])])
    anime_upsert_many(records=[record(1, [NamedRef("Slice of Life", 36)])])
    assert list(Genre.objects.values_list("name", "mal_id")) == [("Slice of Life", 36)]
    assert [g.name for g in Anime.objects.get(mal_id=1).genres.all()] == ["Slice of Life"]


def test_id_moves_to_an_existing_row_of_the_new_name():
    # The CSV import creates names without ids; the sync then reports a rename.
    anime_upsert_many(
        records=[record(1, [NamedRef("Slice Of Life", 36)]), record(2, [NamedRef("Slice of Life")])]
    )
    anime_upsert_many(records=[record(3, [NamedRef("Slice of Life", 36)])])
    assert Genre.objects.get(mal_id=36).name == "Slice of Life"
    assert Genre.objects.filter(name="Slice of Life").count() == 1
    assert Genre.objects.get(name="Slice Of Life").mal_id is None


def test_fields_a_record_does_not_carry_are_kept():
    anime_upsert_many(records=[record(5, [], title_english="Five", synopsis="long text")])
    anime_upsert_many(records=[AnimeRecord(mal_id=5, values={"title": "T5", "mean": 7.5})])
    row = Anime.objects.get(mal_id=5)
    assert (row.title_english, row.synopsis, row.mean) == ("Five", "long text", 7.5)
    assert "five" in row.search_text


def test_hentai_genre_marks_title_adult():
    anime_upsert_many(records=[record(9, [NamedRef("Hentai")])])
    assert Anime.objects.get(mal_id=9).is_adult
