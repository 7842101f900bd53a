"""The quick start's first-run setup (`make run` calls `manage.py bootstrap`)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from catalog.models import Anime
from recommender.ml import artifacts
from recommender.ml.registry import ENGINES
from recommender.models import CommunityRating, TrainingRun

pytestmark = pytest.mark.django_db


def test_bootstrap_imports_and_trains_once(settings, mini_data, tmp_path, capsys):
    settings.ANIMENDER_DATA_DIR = str(mini_data)
    settings.MODEL_DIR = tmp_path
    settings.RECOMMENDER_ENGINE_PARAMS = {"watchlist_nn": {"epochs": 3, "hidden": 32}}
    call_command("bootstrap")
    assert Anime.objects.count() == 1500
    assert CommunityRating.objects.count() == 38972
    assert artifacts.current_version(tmp_path, "knn_baseline")
    assert artifacts.current_version(tmp_path, "watchlist_nn")
    call_command("bootstrap")
    assert artifacts.current_version(tmp_path, "hybrid")
    assert TrainingRun.objects.count() == len(ENGINES)
    assert "Catalog already holds 1500 titles" in capsys.readouterr().out


def test_bootstrap_without_data_dir_does_nothing(settings, capsys):
    settings.ANIMENDER_DATA_DIR = ""
    call_command("bootstrap")
    assert Anime.objects.count() == 0
    assert "ANIMENDER_DATA_DIR not set" in capsys.readouterr().out
