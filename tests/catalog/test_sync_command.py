"""manage.py sync_catalog: output, resume, and clear errors."""

from __future__ import annotations

import re

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Anime, SyncRun

pytestmark = pytest.mark.django_db


def test_sync_catalog_prints_a_summary(mal_settings, fake_mal, capsys):
    call_command("sync_catalog", "--no-progress")
    out = capsys.readouterr().out
    assert re.search(
        r"Sync #\d+ full done: 4 pages, 4 requests, 1506 created, 0 updated "
        r"in \d+\.\ds\.",
        out,
    ), out
    assert Anime.objects.count() == 1506


def test_progress_bar_goes_to_stderr(mal_settings, fake_mal, capsys):
    call_command("sync_catalog", "--mode", "seasonal")
    captured = capsys.readouterr()
    assert "MAL seasonal sync" in captured.err and "title" in captured.err
    assert "seasonal done" in captured.out


def test_failed_sync_names_the_resume_point_and_the_rerun_resumes(mal_settings, fake_mal, capsys):
    fake_mal.fail("500", path="offset=500", times=None)
    with pytest.raises(
        CommandError,
        match=r"failed: .*HTTP 500.*resume at anime/ranking "
        r"offset 500",
    ):
        call_command("sync_catalog", "--no-progress")
    fake_mal.clear()
    call_command("sync_catalog", "--no-progress")
    failed = SyncRun.objects.get(state="failed")
    assert f"(resumed #{failed.pk}): 3 pages, 3 requests, 1006 created" in capsys.readouterr().out


def test_no_resume_flag_starts_over(mal_settings, fake_mal, capsys):
    fake_mal.fail("500", path="offset=1000", times=None)
    with pytest.raises(CommandError):
        call_command("sync_catalog", "--no-progress")
    fake_mal.clear()
    call_command("sync_catalog", "--no-progress", "--no-resume")
    assert "4 pages, 4 requests, 506 created, 1000 updated" in capsys.readouterr().out


def test_missing_client_id_is_a_clear_error(mal_settings, fake_mal):
    mal_settings.MAL_CLIENT_ID = ""
    with pytest.raises(CommandError, match="MAL_CLIENT_ID is not set"):
        call_command("sync_catalog", "--no-progress")
    assert fake_mal.requests == [] and not SyncRun.objects.exists()


def test_bad_client_id_is_a_clear_error(mal_settings, fake_mal):
    mal_settings.MAL_CLIENT_ID = "0" * 32
    with pytest.raises(CommandError, match="400 Invalid client id"):
        call_command("sync_catalog", "--no-progress")
    assert len(fake_mal.requests) == 1
