from __future__ import annotations

import gzip

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from recommender.models import CommunityRating

pytestmark = pytest.mark.django_db


def _foreign_keys() -> list[tuple]:
    table = CommunityRating._meta.db_table
    with connection.cursor() as cur:
        found = connection.introspection.get_constraints(cur, table)
    return [c["foreign_key"] for c in found.values() if c["foreign_key"]]


def _assert_catalog_foreign_key_enforced() -> None:
    assert _foreign_keys() == [("catalog_anime", "mal_id")]
    with pytest.raises(IntegrityError), transaction.atomic():
        CommunityRating.objects.create(member=1, anime_id=99999999, score=5)
        connection.check_constraints()  # deferred constraints: check them now


@pytest.fixture
def mini_catalog(mini_data):
    call_command("import_catalog", str(mini_data), "--no-progress")


def test_import_ratings_loads_mini_ratings(mini_catalog, mini_data, capsys):
    call_command("import_ratings", str(mini_data / "ratings.csv"))
    assert CommunityRating.objects.count() == 38972
    assert CommunityRating.objects.filter(score=-1).count() == 8267
    assert CommunityRating.objects.values("member").distinct().count() == 399
    assert "Imported 38972 ratings of 399 members on 1500 titles" in capsys.readouterr().out


def test_reimport_updates_scores_without_duplicates(mini_catalog, mini_data, tmp_path):
    call_command("import_ratings", str(mini_data / "ratings.csv"))
    row = CommunityRating.objects.order_by("member", "anime_id").first()
    changed = tmp_path / "ratings.csv.gz"
    new_score = 1 if row.score != 1 else 2
    with gzip.open(changed, "wt") as fh:
        fh.write(f"user_id,anime_id,rating\n{row.member},{row.anime_id},{new_score}\n")
    call_command("import_ratings", str(changed))
    assert CommunityRating.objects.count() == 38972
    row.refresh_from_db()
    assert row.score == new_score


@pytest.mark.parametrize(
    "body, message",
    [
        ("user_id,anime_id,rating\n1,1,11\n", "line 2: rating must be 1-10 or -1"),
        ("user_id,anime_id,rating\n1,1,8\n2,abc,7\n", "line 3: anime_id is not a whole number"),
        ("user,anime,score\n1,1,8\n", "missing column"),
        ("user_id,anime_id,rating\n1,99999999,8\n", "not in the catalog"),
    ],
)
def test_bad_file_is_rejected_whole(mini_catalog, mini_data, tmp_path, body, message):
    call_command("import_ratings", str(mini_data / "ratings.csv"))
    before = CommunityRating.objects.count()
    bad = tmp_path / "ratings.csv"
    bad.write_text(body)
    with pytest.raises(CommandError, match=message):
        call_command("import_ratings", str(bad))
    assert CommunityRating.objects.count() == before


def test_unknown_titles_can_be_skipped(mini_catalog, tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user_id,anime_id,rating\n7,1,9\n7,99999999,8\n")
    call_command("import_ratings", str(path), "--skip-unknown-titles")
    assert list(CommunityRating.objects.values_list("member", "anime_id", "score")) == [(7, 1, 9)]


def test_streamed_import_keeps_last_score_of_a_pair_repeated_across_chunks(
    mini_catalog, tmp_path, capsys
):
    lines = ["user_id,anime_id,rating", "5,1,3", "5,5,7", "6,1,-1", "5,1,9", "6,5,4", "6,5,10"]
    path = tmp_path / "ratings.csv"
    path.write_text("\n".join(lines) + "\n")
    call_command("import_ratings", str(path), "--chunk-rows", "2", "--progress")
    got = sorted(CommunityRating.objects.values_list("member", "anime_id", "score"))
    assert got == [(5, 1, 9), (5, 5, 7), (6, 1, -1), (6, 5, 10)]
    captured = capsys.readouterr()
    assert "rows/s" in captured.out
    assert captured.err.count("rows/s") == 3  # one progress line per chunk of 2 rows
    # PostgreSQL drops the catalog foreign key for bulk loads: it must be back.
    _assert_catalog_foreign_key_enforced()


def test_bad_line_in_a_late_chunk_rolls_back_the_chunks_already_written(
    mini_catalog, mini_data, tmp_path
):
    good = (mini_data / "ratings.csv").read_text().splitlines()
    path = tmp_path / "ratings.csv"
    path.write_text("\n".join([*good[:30001], "7,1,12", *good[30001:]]) + "\n")
    with pytest.raises(CommandError, match="line 30002: rating must be 1-10 or -1, got 12"):
        call_command("import_ratings", str(path), "--chunk-rows", "1000")
    assert CommunityRating.objects.count() == 0
    _assert_catalog_foreign_key_enforced()


@pytest.mark.parametrize(
    "row, message",
    [
        ("0,1,8", "line 2: user_id must be a positive id, got 0"),
        ("3000000000,1,8", "user_id must be a positive id"),
        ("4,,8", "line 2: anime_id is not a whole number: ''"),
    ],
)
def test_ids_outside_the_database_range_are_rejected(mini_catalog, tmp_path, row, message):
    path = tmp_path / "ratings.csv"
    path.write_text(f"user_id,anime_id,rating\n{row}\n")
    with pytest.raises(CommandError, match=message):
        call_command("import_ratings", str(path))
    assert CommunityRating.objects.count() == 0
