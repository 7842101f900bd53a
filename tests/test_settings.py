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
    "EMAIL_HOST": "smtp.example.org",
    "DEFAULT_FROM_EMAIL": "Animender <no-reply@example.org>",
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
    "missing",
    [
        "SECRET_KEY",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "ALLOWED_HOSTS",
        "EMAIL_HOST",
        "DEFAULT_FROM_EMAIL",
    ],
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


def _settings_of(env: dict[str, str], *names: str) -> list[str]:
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE',"
        "'animender.settings'); django.setup(); from django.conf import settings as s;"
        f"print(*[repr(getattr(s, n)) for n in {list(names)!r}], sep='|')"
    )
    clean = {k: v for k, v in os.environ.items() if k not in PROD and k != "EMAIL_BACKEND"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().split("|")


@pytest.mark.parametrize("backend", ["console", "filebased", "locmem"])
def test_production_refuses_mail_backends_that_do_not_deliver(backend):
    env = {**PROD, "EMAIL_BACKEND": f"django.core.mail.backends.{backend}.EmailBackend"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "use SMTP in production" in result.stderr


def test_production_sends_mail_over_smtp_from_the_environment():
    env = {**PROD, "EMAIL_PORT": "465", "EMAIL_HOST_USER": "mailer"}
    names = ("EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_USE_SSL")
    assert _settings_of(env, *names) == [
        "'django.core.mail.backends.smtp.EmailBackend'",
        "'smtp.example.org'",
        "465",
        "'mailer'",
        "True",
    ]
    # Locally a reset link still prints to the console.
    assert _settings_of({}, "EMAIL_BACKEND") == ["'django.core.mail.backends.console.EmailBackend'"]


def test_hsts_starts_short_and_preload_needs_a_year():
    names = ("SECURE_HSTS_SECONDS", "SECURE_HSTS_PRELOAD")
    assert _settings_of(PROD, *names) == ["3600", "False"]
    year = {**PROD, "SECURE_HSTS_SECONDS": "31536000", "SECURE_HSTS_PRELOAD": "true"}
    assert _settings_of(year, *names) == ["31536000", "True"]
    result = manage("check", env={**PROD, "SECURE_HSTS_PRELOAD": "true"})
    assert result.returncode != 0 and "needs SECURE_HSTS_SECONDS >= 31536000" in result.stderr


@pytest.mark.django_db
def test_sqlite_tests_run_on_a_file_database():
    """A worker thread writing to the shared-cache in-memory database fails at once with
    'database table is locked'; a file database (WAL) makes it wait its turn instead."""
    from django.db import connection

    if connection.vendor != "sqlite":
        assert connection.vendor == "postgresql"
        return
    name = str(connection.settings_dict["NAME"])
    assert "memory" not in name and os.path.isfile(name)
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_boolean_settings_are_strict():
    result = manage("check", env={"DEBUG": "ture"})
    assert result.returncode != 0
    assert "DEBUG='ture' is not a boolean" in result.stderr


def test_run_stale_limits_keep_per_kind_defaults_under_the_environments_overrides():
    show = (
        "from django.conf import settings; "
        "print(sorted(settings.RUN_STALE_AFTER_OVERRIDES.items()))"
    )
    result = manage("shell", "-c", show, env={"RUN_STALE_AFTER_OVERRIDES": "import=60, sync=30"})
    assert result.returncode == 0, result.stderr
    # taste and refresh keep their defaults; import is the environment's; sync is added.
    assert result.stdout.strip().splitlines()[-1] == str(
        [("import", 60.0), ("refresh", 600.0), ("sync", 30.0), ("taste", 1200.0)]
    )
    bad = manage("check", env={"RUN_STALE_AFTER_OVERRIDES": "imports=60"})
    assert bad.returncode != 0 and "unknown run kind 'imports'" in bad.stderr


def test_the_preference_rule_comes_from_the_environment():
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE',"
        "'animender.settings'); django.setup();"
        "from animender.score_rules import preference_rule; r = preference_rule();"
        "print(r.like_min, r.dislike_max)"
    )
    env = {**os.environ, "RECOMMENDER_LIKE_MIN_SCORE": "9", "RECOMMENDER_DISLIKE_MAX_SCORE": "3"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split() == ["9", "3"], out.stderr
    # A score cannot be a like and a dislike at once: startup stops.
    result = manage(
        "check", env={"RECOMMENDER_LIKE_MIN_SCORE": "5", "RECOMMENDER_DISLIKE_MAX_SCORE": "6"}
    )
    assert result.returncode != 0
    assert "RECOMMENDER_DISLIKE_MAX_SCORE < RECOMMENDER_LIKE_MIN_SCORE" in result.stderr


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
