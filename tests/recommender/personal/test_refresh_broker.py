"""A refresh message delivered twice through the real Redis broker runs once."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.core.management import call_command

from accounts.models import ListEntry
from catalog.franchises import franchise_index_invalidate
from recommender import selectors as serving
from recommender.models import RecommendationRefresh, UserRecommendation
from recommender.personal_services import recommendations_refresh_request
from recommender.tasks import refresh_user_recommendations_task

from .conftest import BEBOP, FMA_B


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_refresh_delivered_twice_runs_once_on_a_real_worker(
    redis_broker, trained_models, mini_data_dir, settings, django_user_model
):
    settings.MODEL_DIR = trained_models
    settings.RECOMMENDATIONS_REFRESH_DELAY_SECONDS = 0
    settings.RECOMMENDATIONS_STORED_PER_ENGINE = 50
    serving._cache.clear()
    call_command("import_catalog", str(mini_data_dir), "--no-progress")
    franchise_index_invalidate()
    alice = django_user_model.objects.create_user("alice", "a@example.com", "pw-alice-123")
    ListEntry.objects.create(user=alice, anime_id=BEBOP, status="completed", score=9)
    ListEntry.objects.create(user=alice, anime_id=FMA_B, status="completed", score=10)
    results = []

    def collect(sender=None, retval=None, **kwargs):
        if getattr(sender, "name", "") == refresh_user_recommendations_task.name:
            results.append(retval)

    task_postrun.connect(collect, weak=False)
    try:
        with start_worker(redis_broker, perform_ping_check=False, shutdown_timeout=10):
            assert recommendations_refresh_request(user_id=alice.pk, trigger="list")  # sent
            refresh_user_recommendations_task.delay(alice.pk)  # the same work, delivered again
            deadline = time.monotonic() + 60
            while len(results) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
    finally:
        task_postrun.disconnect(collect)
    assert sorted(results) == ["done", "not claimed"]
    state = RecommendationRefresh.objects.get(user=alice)
    assert state.status == "done" and state.runs == 1
    assert UserRecommendation.objects.filter(user=alice, engine="knn_baseline").count() == 50
