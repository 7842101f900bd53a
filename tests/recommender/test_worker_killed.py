"""A real worker process killed with SIGKILL mid-training: never stuck, old model serves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.db import connection

from recommender.ml import artifacts
from recommender.models import TrainingRun
from recommender.services import training_run_create, training_run_execute
from recommender.tasks import reap_stale_runs_task, train_engine_task
from tests.conftest import BROKER_URL, REPO


def _database_url() -> str:
    """The URL of the test database this process uses, for a worker in another process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_sigkilled_worker_leaves_no_stuck_run_and_the_old_model_serves(
    redis_broker, mini_data, settings, tmp_path, client
):
    settings.MODEL_DIR = tmp_path
    call_command("import_catalog", str(mini_data), "--no-progress")
    call_command("import_ratings", str(mini_data / "ratings.csv"))
    first = training_run_create(engine="watchlist_nn", trigger="test", params={"epochs": 2})
    first = training_run_execute(run_id=first.pk)
    assert artifacts.current_version(tmp_path, "watchlist_nn") == first.version

    # Long enough to be killed in the middle of it.
    doomed = training_run_create(engine="watchlist_nn", trigger="test", params={"epochs": 5000})
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": BROKER_URL,
        "ANIMENDER_MODEL_DIR": str(tmp_path),
        "RUN_HEARTBEAT_SECONDS": "0.2",
        "RECOMMENDER_ENGINE_PARAMS": json.dumps({}),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "animender", "worker", "--pool=solo"]
        + ["--without-gossip", "--without-mingle", "-l", "warning"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        train_engine_task.delay(doomed.pk)
        started = _wait_for(
            lambda: TrainingRun.objects.filter(pk=doomed.pk, state="running").first(),
            90,
            "the worker to claim the run",
        )
        _wait_for(
            lambda: TrainingRun.objects.get(pk=doomed.pk).heartbeat_at > started.heartbeat_at,
            30,
            "a heartbeat while training",
        )
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == -signal.SIGKILL
    assert TrainingRun.objects.get(pk=doomed.pk).state == "running"  # what it would stay

    settings.RUN_STALE_AFTER_SECONDS = 1
    time.sleep(1.5)
    assert reap_stale_runs_task.apply().result == [doomed.pk]
    dead = TrainingRun.objects.get(pk=doomed.pk)
    assert dead.state == "failed" and "no heartbeat" in dead.error
    redo = TrainingRun.objects.get(engine="watchlist_nn", state="queued")
    assert redo.trigger == "reaper" and redo.params == {"epochs": 5000}
    redis_broker.control.purge()  # the redo's message: no worker here to take it

    assert artifacts.current_version(tmp_path, "watchlist_nn") == first.version
    served = client.post(
        "/api/recommendations/",
        {"engine": "watchlist_nn", "entries": [{"mal_id": 1, "score": 9}]},
        content_type="application/json",
    )
    assert served.status_code == 200 and served.json()["version"] == first.version
    leftovers = [p.name for p in (tmp_path / "watchlist_nn").iterdir() if p.is_dir()]
    assert leftovers == [first.version]
