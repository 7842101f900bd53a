from __future__ import annotations

import gzip

import pytest
from django.core.management import CommandError, call_command

from recommender.models import CommunityRating

pytestmark = pytest.mark.django_db


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
