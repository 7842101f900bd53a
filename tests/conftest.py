"""Shared fixtures: fast hashing, users, the shared data folder, each test's own folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from animender.celery import app as celery_app

REPO = Path(__file__).resolve().parent.parent
BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
SHARED_DATA = Path(os.environ.get("ANIMENDER_SHARED_DATA", REPO.parent / "shared" / "data"))
# The development instance's folder (the default VAR_DIR): the suite never reads or writes it.
DEV_VAR = REPO / "var"


def path_settings(settings) -> dict[str, Path]:
    """Every folder or file the settings point the site's state at."""
    paths = {
        "VAR_DIR": settings.VAR_DIR,
        "MODEL_DIR": settings.MODEL_DIR,
        "STATIC_ROOT": settings.STATIC_ROOT,
    }
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        paths["DATABASES.default.NAME"] = db["NAME"]
        paths["DATABASES.default.TEST.NAME"] = db.get("TEST", {}).get("NAME") or ":memory:"
    return {name: Path(value).resolve() for name, value in paths.items()}


def inside_dev_var(path: Path) -> bool:
    return path.resolve().is_relative_to(DEV_VAR.resolve())


def pytest_configure(config):
    # Under pytest-django, tests.settings (pyproject.toml) has already put the var dir in
    # a temporary folder. Refuse to run on settings that did not, e.g. an exported
    # DJANGO_SETTINGS_MODULE=animender.settings: those tests would use the developer's
    # database file and serve the models that `make run` trained.
    if not config.pluginmanager.hasplugin("django"):
        return
    from django.conf import settings

    if not settings.configured:
        return
    # The test database replaces NAME, which is never opened: only the folders count.
    wrong = {
        name: path
        for name, path in path_settings(settings).items()
        if name != "DATABASES.default.NAME" and inside_dev_var(path)
    }
    if wrong:
        listed = ", ".join(f"{name}={path}" for name, path in wrong.items())
        raise pytest.UsageError(
            f"the tests would use the development var dir {DEV_VAR} ({listed}); run them "
            "with DJANGO_SETTINGS_MODULE=tests.settings (the pyproject.toml default)."
        )


@pytest.fixture(autouse=True)
def _fast_hasher(request):
    # Only under pytest-django: the ML tests also run alone with -p no:django.
    if request.config.pluginmanager.hasplugin("django"):
        settings = request.getfixturevalue("settings")
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _own_model_dir(request):
    """Each test starts with an empty MODEL_DIR of its own (taste models live under it too):
    no test serves what another test, or `make run`, trained. The in-memory copies of
    loaded models and taste features are dropped with it."""
    if not request.config.pluginmanager.hasplugin("django"):
        yield
        return
    from labeling.taste import features as taste_features
    from recommender.engines import selectors as serving

    def forget() -> None:
        serving._cache.clear()
        taste_features._cache.clear()
        taste_features._cold_cache.clear()

    settings = request.getfixturevalue("settings")
    settings.MODEL_DIR = request.getfixturevalue("tmp_path_factory").mktemp("models")
    forget()
    yield
    forget()


@pytest.fixture(autouse=True)
def _fresh_franchise_index():
    # The franchise index is cached per process; each test has its own catalog.
    from catalog.franchises import franchise_index_invalidate

    franchise_index_invalidate()
    yield
    franchise_index_invalidate()


@pytest.fixture
def shared_data() -> Path:
    """The full shared data set (13,494 titles, 520k ratings)."""
    return SHARED_DATA


@pytest.fixture
def mini_data() -> Path:
    """The 1,500-title / 399-user subset for fast tests."""
    return SHARED_DATA / "mini"


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "pw-alice-123")


@pytest.fixture
def charlie(django_user_model):
    return django_user_model.objects.create_user("charlie", "charlie@example.com", "pw-charlie-1")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def _redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def _forget_connections(celery_app) -> None:
    # Even eager .delay() acquires a producer, which caches a pool bound to the broker URL
    # of that moment; without this reset, .delay() here would publish to the old broker.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def redis_broker():
    if not _redis_reachable(BROKER_URL):
        pytest.skip(f"Redis broker unreachable at {BROKER_URL} (set TEST_CELERY_BROKER_URL)")
    saved = {
        key: celery_app.conf[key] for key in ("task_always_eager", "broker_url", "result_backend")
    }
    celery_app.conf.update(task_always_eager=False, broker_url=BROKER_URL, result_backend=None)
    _forget_connections(celery_app)
    celery_app.control.purge()  # leftovers of an interrupted earlier run would run first
    yield celery_app
    celery_app.conf.update(saved)
    _forget_connections(celery_app)


def run_concurrently(fn, n: int = 2) -> list:
    """Call ``fn()`` in ``n`` threads released at the same instant; each thread's result
    or raised exception, in no particular order. Each thread closes its own connection."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(n)
    outcomes: list = []

    def call() -> None:
        try:
            barrier.wait(timeout=10)
            outcomes.append(fn())
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


@pytest.fixture(autouse=True)
def _fresh_cache(request):
    """Throttle counters live in the cache: each test starts with none."""
    if request.config.pluginmanager.hasplugin("django"):
        from django.core.cache import cache

        cache.clear()
