"""A member's retrain through the real Redis broker and a real Celery worker."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker

from labeling.models import TasteTrainingRun
from labeling.taste.runs import taste_training_request, user_artifacts_root
from labeling.taste.selectors import taste_scores_get
from recommender.ml import artifacts

from .conftest import label_planted


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_members_model_trains_on_a_real_worker(redis_broker, alice, catalog):
    label_planted(alice, catalog, 30)
    with start_worker(redis_broker, perform_ping_check=False, shutdown_timeout=10):
        run = taste_training_request(user=alice)  # autocommit: sent at once
        # A redelivered or duplicate message must not train twice.
        from labeling.tasks import train_taste_model_task

        train_taste_model_task.delay(run.pk)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.state in ("done", "failed"):
                break
            time.sleep(0.2)
    assert run.state == "done", run.error
    assert run.started_at and run.finished_at and run.heartbeat_at
    assert artifacts.current_version(user_artifacts_root(), str(alice.pk)) == run.version
    assert taste_scores_get(user=alice)[2] == run.version
    assert TasteTrainingRun.objects.filter(user=alice).count() == 1
    base = artifacts.engine_dir(user_artifacts_root(), str(alice.pk))
    assert [p.name for p in base.iterdir() if p.is_dir()] == [run.version]
