"""The catalog.sync_catalog task: direct wiring, and through a real Redis broker + worker."""

from __future__ import annotations

import time
from datetime import date

import pytest
from celery.contrib.testing.worker import start_worker
from celery.result import EagerResult

from catalog.models import Anime, SyncRun
from catalog.sync import season_of, sync_plan
from catalog.tasks import sync_catalog_task


@pytest.mark.django_db
def test_task_calls_the_sync_service(mal_settings, fake_mal):
    assert sync_catalog_task.name == "catalog.sync_catalog"
    run_id = sync_catalog_task(mode="seasonal")
    run = SyncRun.objects.get(pk=run_id)
    assert run.mode == "seasonal" and run.state == "done"
    year, season = season_of(date.today())
    assert fake_mal.requests[0].path.startswith(f"/v2/anime/season/{year}/{season}?")
    assert len(fake_mal.requests) == len(sync_plan(mode="seasonal", today=date.today()))


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
