"""Taste runs on real worker processes that die mid-run, and one that outlives its claim."""

from __future__ import annotations

import pytest

from labeling.models import TasteScores, TasteTrainingRun
from labeling.tasks import reap_stale_taste_runs_task
from labeling.taste.features import FEATURES_ENGINE, catalog_features_get, taste_root
from labeling.taste.runs import taste_training_request
from recommender.ml import artifacts
from tests.waiting import wait_until
from tests.workers import (  # noqa: F401 (killable_broker is a fixture)
    KILLABLE_BROKER_URL,
    fifo_feed,
    fifo_make,
    killable_broker,
    queued_messages,
    wait_claimed,
    worker_kill,
    worker_start,
    worker_stop,
)

from .conftest import label_planted

CAP = 2


@pytest.mark.broker
@pytest.mark.usefixtures("killable_broker")
@pytest.mark.django_db(transaction=True)
def test_a_taste_run_killed_max_attempts_times_stays_failed_and_a_late_finish_changes_nothing(
    alice, catalog, settings
):
    label_planted(alice, catalog, 20)
    # The reaper runs here: every running row counts as silent, and two attempts is the cap.
    settings.RUN_STALE_AFTER_OVERRIDES = {"taste": 0.0}
    settings.RUN_MAX_ATTEMPTS_OVERRIDES = {"taste": CAP}
    catalog_features_get()  # built here, read by the workers from MODEL_DIR
    version_dir = artifacts.engine_dir(taste_root(), FEATURES_ENGINE)
    (pipe,) = version_dir.glob("*/features.json")
    fifo_make(pipe)  # a worker reading the features waits there, after its claim
    env = {"TASTE_COMMUNITY_FEATURES": "false"}  # the conftest's setting: the same version

    run = taste_training_request(user=alice)  # autocommit: its message is sent at once
    for attempt in range(1, CAP + 1):
        worker = worker_start(
            model_dir=settings.MODEL_DIR,
            broker_url=KILLABLE_BROKER_URL,
            heartbeat_seconds=3600,
            **env,
        )
        try:
            wait_claimed(TasteTrainingRun, run.pk, attempt=attempt)
        finally:
            worker_kill(worker)
        reaped = reap_stale_taste_runs_task.apply().result
        run.refresh_from_db()
        if attempt < CAP:
            assert reaped["requeued"] == [run.pk]
            assert run.state == "queued" and "queued again" in run.error
            assert queued_messages() == 1  # the reaper sent it again
    assert reaped == {"requeued": [], "failed": [run.pk], "resent": [], "superseded": []}
    assert run.state == "failed" and run.attempts == CAP
    assert f"Attempt {CAP} of {CAP}: gave up" in run.error
    assert queued_messages() == 0  # not queued again...
    assert reap_stale_taste_runs_task.apply().result["requeued"] == []  # ...ever

    # A worker that is only slow: the reaper gives up on its run while it still works.
    settings.RUN_MAX_ATTEMPTS_OVERRIDES = {"taste": 1}
    slow = taste_training_request(user=alice)
    worker = worker_start(
        model_dir=settings.MODEL_DIR, broker_url=KILLABLE_BROKER_URL, heartbeat_seconds=3600, **env
    )
    try:
        wait_claimed(TasteTrainingRun, slow.pk, attempt=1)
        assert reap_stale_taste_runs_task.apply().result["failed"] == [slow.pk]
        given_up = TasteTrainingRun.objects.get(pk=slow.pk)
        # Let it go: it reads broken features, fails, and tries to record that.
        wait_until(
            lambda: fifo_feed(pipe, b"{not json"),
            timeout=30,
            what="the slow worker to be reading the features",
        )
    finally:
        worker_stop(worker)  # waits for its task to end
    assert worker.returncode == 0
    late = TasteTrainingRun.objects.get(pk=slow.pk)
    assert (late.state, late.error, late.finished_at) == (
        "failed",
        given_up.error,
        given_up.finished_at,
    )
    assert "gave up" in late.error
    assert not TasteScores.objects.filter(user=alice).exists()
