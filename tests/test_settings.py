"""Settings come from the environment; production refuses to start half-configured."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

PROD = {
    "ANIMENDER_ENV": "production",
    "SECRET_KEY": "x" * 30 + "-a-long-random-production-secret-key-0123456789",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/animender",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "animender.example.org",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in PROD and not k.startswith(("DJANGO_", "DEBUG"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "missing", ["SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "ALLOWED_HOSTS"]
)
def test_production_refuses_to_start_without(missing):
    env = {k: v for k, v in PROD.items() if k != missing}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert f"{missing} must be set when ANIMENDER_ENV=production" in result.stderr


def test_production_check_deploy_is_clean():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PROD)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_boolean_settings_are_strict():
    result = manage("check", env={"DEBUG": "ture"})
    assert result.returncode != 0
    assert "DEBUG='ture' is not a boolean" in result.stderr


def test_local_default_is_sqlite_and_eager_tasks():
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE',"
        "'animender.settings'); django.setup(); from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER)"
    )
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "ANIMENDER_ENV")
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.split() == ["django.db.backends.sqlite3", "True"]


@pytest.mark.django_db
def test_static_files_are_served_by_whitenoise(client):
    response = client.get("/static/css/site.css")
    assert response.status_code == 200
    assert b"--accent" in b"".join(response.streaming_content)
