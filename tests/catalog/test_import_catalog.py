from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Anime, Genre, Studio

pytestmark = pytest.mark.django_db


def test_import_catalog_loads_mini_catalog_with_genres_and_studios(mini_data, capsys):
    call_command("import_catalog", str(mini_data / "catalog.csv"), "--no-progress")
    assert Anime.objects.count() == 1500
    bebop = Anime.objects.get(mal_id=1)
    assert bebop.title == "Cowboy Bebop"
    assert bebop.media_type == "tv"
    assert bebop.start_season == "spring" and bebop.start_year == 1998
    assert bebop.rating == "r"
    assert "cowboy bebop" in bebop.search_text
    assert set(bebop.genres.values_list("name", flat=True)) >= {"Action", "Sci-Fi", "Space"}
    assert list(bebop.studios.values_list("name", flat=True)) == ["Sunrise"]
    assert "1500 titles (1500 new, 0 updated)" in capsys.readouterr().out


def test_import_catalog_is_idempotent(mini_data):
    call_command("import_catalog", str(mini_data), "--no-progress")
    genres, studios = Genre.objects.count(), Studio.objects.count()
    call_command("import_catalog", str(mini_data), "--no-progress")
    assert Anime.objects.count() == 1500
    assert (Genre.objects.count(), Studio.objects.count()) == (genres, studios)
    assert Anime.genres.through.objects.filter(anime_id=1).count() == 6


def test_malformed_row_reports_line_and_leaves_database_untouched(mini_data, tmp_path):
    call_command("import_catalog", str(mini_data), "--no-progress")
    before = Anime.objects.get(mal_id=1).title
    lines = (mini_data / "catalog.csv").read_text(encoding="utf-8").splitlines()
    # Rename a valid title, then break a later row: the rename must not land.
    lines[1] = lines[1].replace("Cowboy Bebop", "Renamed Bebop", 1)
    broken = lines[4].split(",")
    broken[4] = "twelve"  # episodes
    lines[4] = ",".join(broken)
    bad = tmp_path / "catalog.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"line 5: episodes is not a number"):
        call_command("import_catalog", str(bad), "--no-progress")
    assert Anime.objects.get(mal_id=1).title == before
    assert Anime.objects.count() == 1500


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="No catalog CSV"):
        call_command("import_catalog", str(tmp_path / "nope.csv"))
