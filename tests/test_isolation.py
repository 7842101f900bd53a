"""The suite never reads or writes the development instance's var/ (issue 17).

`make run` trains models into var/models and keeps its database in var/; a test that saw
them would pass or fail depending on whether the developer ran the site first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recommender.ml import artifacts
from recommender.ml.registry import ENGINES
from tests.conftest import DEV_VAR, REPO, inside_dev_var, path_settings


def test_every_path_setting_is_outside_the_development_var_dir():
    # The settings module's own values, not the per-test ones the autouse fixtures patch.
    import tests.settings

    paths = path_settings(tests.settings)
    assert {"VAR_DIR", "MODEL_DIR", "STATIC_ROOT"} <= set(paths)
    for name, path in paths.items():
        assert not inside_dev_var(path), f"{name}={path} is inside {DEV_VAR}"
        assert not path.is_relative_to(REPO), f"{name}={path} is inside the checkout"


@pytest.mark.django_db
def test_the_test_database_is_a_temporary_file():
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL: Django's own test_ database")
    name = Path(connection.settings_dict["NAME"]).resolve()
    assert not inside_dev_var(name) and not name.is_relative_to(REPO)


def _model_dir_and_engines_served(settings) -> tuple[Path, dict[str, str | None]]:
    return settings.MODEL_DIR, {
        engine: artifacts.current_version(settings.MODEL_DIR, engine) for engine in ENGINES
    }


_seen: list[Path] = []


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_starts_with_its_own_empty_model_dir(settings, round_):
    model_dir, served = _model_dir_and_engines_served(settings)
    assert served == dict.fromkeys(ENGINES)  # nothing trained, whatever var/models holds
    assert not inside_dev_var(model_dir) and not any(model_dir.iterdir())
    assert model_dir not in _seen
    _seen.append(model_dir)
    # Leave something behind: the next round must not see it.
    (model_dir / "knn_baseline").mkdir()


def test_subprocesses_inherit_the_temporary_var_dir():
    """`manage.py`, workers and bench scripts started by tests read the environment: they
    use the session's folder, even with the plain animender.settings module."""
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'animender.settings';"
        "django.setup(); from django.conf import settings as s;"
        "print(s.VAR_DIR, s.MODEL_DIR, s.STATIC_ROOT, sep='|')"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for path in out.strip().split("|"):
        assert not inside_dev_var(Path(path)), out
