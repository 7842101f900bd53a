"""The catalog.sync_catalog task: direct wiring, and through a real Redis broker + worker."""

from __future__ import annotations

import os
import time
from datetime import date

import pytest
from celery.contrib.testing.worker import start_worker
from celery.result import EagerResult

from animender.celery import app
from catalog.models import Anime, SyncRun
from catalog.sync import season_of, sync_plan
from catalog.tasks import sync_catalog_task

BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")


@pytest.mark.django_db
def test_task_calls_the_sync_service(mal_settings, fake_mal):
    assert sync_catalog_task.name == "catalog.sync_catalog"
    run_id = sync_catalog_task(mode="seasonal")
    run = SyncRun.objects.get(pk=run_id)
    assert run.mode == "seasonal" and run.state == "done"
    year, season = season_of(date.today())
    assert fake_mal.requests[0].path.startswith(f"/v2/anime/season/{year}/{season}?")
    assert len(fake_mal.requests) == len(sync_plan(mode="seasonal", today=date.today()))


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
    saved = {key: app.conf[key] for key in ("task_always_eager", "broker_url",
                                             "result_backend")}
    app.conf.update(task_always_eager=False, broker_url=BROKER_URL, result_backend=None)
    _forget_connections(app)
    app.control.purge()  # leftovers of an interrupted earlier run would run first
    yield app
    app.conf.update(saved)
    _forget_connections(app)


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_sync_runs_on_a_real_worker_through_redis(redis_broker, mal_settings, fake_mal):
    with start_worker(redis_broker, perform_ping_check=False, shutdown_timeout=10):
        result = sync_catalog_task.delay(mode="full")
        assert not isinstance(result, EagerResult)  # really went through Redis
        deadline = time.monotonic() + 30
        run = None
        while time.monotonic() < deadline:
            run = SyncRun.objects.filter(mode="full").first()
            if run and run.state != SyncRun.State.RUNNING:
                break
            time.sleep(0.1)
    assert run is not None and run.state == SyncRun.State.DONE, run and run.error
    assert Anime.objects.count() == 1506
    assert run.pages == 4 and run.titles_created == 1506
