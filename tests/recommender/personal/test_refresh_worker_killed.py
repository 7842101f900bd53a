"""Recommendation refreshes on real worker processes that die mid-run, and one that outlives
its claim."""

from __future__ import annotations

import signal

import pytest

from accounts.models import ListEntry
from recommender.ml.registry import ENGINES
from recommender.models import RecommendationRefresh
from recommender.personal.services import recommendations_refresh_request
from recommender.personal.tasks import reap_stale_refreshes_task
from tests.catalog.factories import AnimeFactory
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

CAP = 2


@pytest.mark.broker
@pytest.mark.usefixtures("killable_broker")
@pytest.mark.django_db(transaction=True)
def test_a_refresh_killed_max_attempts_times_stays_failed_and_a_late_finish_changes_nothing(
    alice, settings, tmp_path
):
    settings.RUN_STALE_AFTER_OVERRIDES = {"refresh": 0.0}  # every running row counts as silent
    settings.RUN_MAX_ATTEMPTS_OVERRIDES = {"refresh": CAP}
    settings.RECOMMENDATIONS_REFRESH_DELAY_SECONDS = 0
    ListEntry.objects.create(user=alice, anime=AnimeFactory(mal_id=1), status="completed", score=9)
    # A worker asking which version of an engine serves waits on its CURRENT pointer. Only
    # workers read them: anything here that served recommendations would wait too.
    model_dir = tmp_path / "models"
    pipes = [fifo_make(model_dir / engine / "CURRENT") for engine in ENGINES]

    assert recommendations_refresh_request(user_id=alice.pk, trigger="list")  # sent at once
    row = RecommendationRefresh.objects.get(user=alice)
    for attempt in range(1, CAP + 1):
        worker = worker_start(
            model_dir=model_dir, broker_url=KILLABLE_BROKER_URL, heartbeat_seconds=3600
        )
        try:
            wait_claimed(RecommendationRefresh, row.pk, attempt=attempt)
        finally:
            worker_kill(worker)
        reaped = reap_stale_refreshes_task.apply().result
        row.refresh_from_db()
        if attempt < CAP:
            assert reaped["requeued"] == [row.pk]
            assert row.state == "queued" and "queued again" in row.error
            assert queued_messages() == 1  # the reaper sent it again
    assert reaped == {"requeued": [], "failed": [row.pk], "resent": []}
    assert (row.state, row.attempts, row.runs) == ("failed", CAP, 0)
    assert f"Attempt {CAP} of {CAP}: gave up" in row.error
    assert queued_messages() == 0  # not queued again...
    assert reap_stale_refreshes_task.apply().result["requeued"] == []  # ...ever

    # A new request starts over; its worker is only slow and the reaper gives up on it.
    settings.RUN_MAX_ATTEMPTS_OVERRIDES = {"refresh": 1}
    assert recommendations_refresh_request(user_id=alice.pk, trigger="label")
    worker = worker_start(
        model_dir=model_dir, broker_url=KILLABLE_BROKER_URL, heartbeat_seconds=3600
    )
    try:
        wait_claimed(RecommendationRefresh, row.pk, attempt=1)  # attempts counted afresh
        assert reap_stale_refreshes_task.apply().result["failed"] == [row.pk]
        given_up = RecommendationRefresh.objects.get(pk=row.pk)
        worker.send_signal(signal.SIGTERM)  # warm shutdown: it finishes its refresh first
        # Let it go: every engine reads as never trained; it stores nothing and finishes.
        wait_until(
            lambda: [fifo_feed(p, b"") for p in pipes] and worker.poll() is not None,
            timeout=120,
            interval=0.1,
            what="the slow worker to finish its refresh and exit",
        )
    finally:
        worker_stop(worker)
    assert worker.returncode == 0
    late = RecommendationRefresh.objects.get(pk=row.pk)
    assert (late.state, late.error, late.finished_at, late.runs, late.engines) == (
        "failed",
        given_up.error,
        given_up.finished_at,
        0,
        {},
    )
