"""A training run through the real Redis broker and a real Celery worker."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command

from recommender.engines.services import training_run_enqueue
from recommender.ml import artifacts
from recommender.models import TrainingRun


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_training_runs_on_a_real_worker_through_redis(redis_broker, mini_data, settings, tmp_path):
    settings.MODEL_DIR = tmp_path
    call_command("import_catalog", str(mini_data), "--no-progress")
    call_command("import_ratings", str(mini_data / "ratings.csv"))
    with start_worker(redis_broker, perform_ping_check=False, shutdown_timeout=10):
        run = training_run_enqueue(engine="knn_baseline", trigger="test")  # autocommit: sent
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.state in (TrainingRun.State.DONE, TrainingRun.State.FAILED):
                break
            time.sleep(0.2)
    assert run.state == TrainingRun.State.DONE, run.error
    assert artifacts.current_version(tmp_path, "knn_baseline") == run.version
