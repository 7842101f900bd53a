"""Catalog syncs: one per mode, safe redelivery, a reaper, and the rules for resuming."""

from __future__ import annotations

import logging
import threading
import time
from datetime import date, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from catalog.mal_client import (
    MalBadPayload,
    MalBadRequest,
    MalClient,
    MalNotFound,
    MalServerError,
    MalThrottled,
)
from catalog.models import Anime, SyncRun
from catalog.sync import catalog_sync, sync_plan, sync_run_start
from catalog.tasks import reap_stale_syncs_task, sync_catalog_task
from tests.conftest import run_concurrently
from tests.waiting import wait_until
from tests.workers import kill_worker_mid_run, reap_until

TODAY = date(2025, 11, 5)


def _offsets(requests) -> list[str]:
    return [r.params.get("offset") for r in requests]


def _running_full_sync(**fields) -> SyncRun:
    now = timezone.now()
    return SyncRun.objects.create(
        mode="full",
        state="running",
        endpoint="anime/ranking",
        params={"ranking_type": "all"},
        plan=sync_plan(mode="full", today=date.today()),
        started_at=now,
        heartbeat_at=now,
        **{"attempts": 1, **fields},
    )


@pytest.mark.django_db
def test_a_redelivered_sync_message_syncs_once(mal_settings, fake_mal):
    first = sync_catalog_task.apply(kwargs={"mode": "seasonal"}, task_id="msg-1").result
    again = sync_catalog_task.apply(kwargs={"mode": "seasonal"}, task_id="msg-1").result
    assert first == again == SyncRun.objects.get().pk
    assert len(fake_mal.requests) == 3  # one walk of the three seasons, not two


@pytest.mark.django_db
def test_a_second_sync_of_a_mode_is_refused_while_one_runs(mal_settings, fake_mal, caplog):
    running = _running_full_sync()
    with pytest.raises(CommandError, match=rf"full catalog sync is already .* \(#{running.pk}"):
        call_command("sync_catalog", "--mode", "full", "--no-progress")
    with caplog.at_level(logging.INFO, logger="catalog.tasks"):
        assert sync_catalog_task.apply(kwargs={"mode": "full"}).result is None
    assert "catalog full sync skipped" in caplog.text
    assert fake_mal.requests == [] and SyncRun.objects.count() == 1
    # Another mode is free.
    assert sync_catalog_task.apply(kwargs={"mode": "seasonal"}).result is not None


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sync_starts_give_one_run():
    outcomes = run_concurrently(lambda: sync_run_start(mode="full", resume=True, today=TODAY))
    assert sorted(type(o).__name__ for o in outcomes) == ["Claim", "RunAlreadyActive"]
    assert SyncRun.objects.filter(state="running").count() == 1


@pytest.mark.django_db
def test_the_reaper_requeues_a_silent_sync_on_its_checkpoint(
    mal_settings, fake_mal, django_capture_on_commit_callbacks
):
    dead = _running_full_sync(next_offset=1000, pages=2)
    silent = timezone.now() - timedelta(seconds=mal_settings.RUN_STALE_AFTER_SECONDS + 1)
    SyncRun.objects.filter(pk=dead.pk).update(heartbeat_at=silent)
    # Requeued and sent again (eager: the same row continues at once, at its checkpoint).
    with django_capture_on_commit_callbacks(execute=True):
        reaped = reap_stale_syncs_task.apply().result
    assert reaped == {"requeued": [dead.pk], "failed": [], "resent": []}
    dead.refresh_from_db()
    assert (dead.state, dead.attempts, dead.pages) == ("done", 2, 4)
    assert "Attempt 1 of 3; queued again" not in dead.error  # a done run has no error
    assert SyncRun.objects.count() == 1
    assert _offsets(fake_mal.requests) == ["1000", "1500"]


@pytest.mark.django_db
def test_a_sync_whose_worker_died_every_attempt_stays_failed(mal_settings, fake_mal):
    dead = _running_full_sync(next_offset=1000, pages=2, attempts=3)
    silent = timezone.now() - timedelta(seconds=mal_settings.RUN_STALE_AFTER_SECONDS + 1)
    SyncRun.objects.filter(pk=dead.pk).update(heartbeat_at=silent)
    assert reap_stale_syncs_task.apply().result["failed"] == [dead.pk]
    dead.refresh_from_db()
    assert (dead.state, dead.retryable) == ("failed", False)
    assert dead.error.endswith("Attempt 3 of 3: gave up.")
    assert reap_stale_syncs_task.apply().result == {"requeued": [], "failed": [], "resent": []}
    assert fake_mal.requests == []
    # The next sync does not resume the checkpoint its workers died on: a fresh plan.
    fresh = catalog_sync(mode="full")
    assert (fresh.resumed_from_id, fresh.attempts) == (None, 1)
    assert _offsets(fake_mal.requests)[0] == "0"


@pytest.mark.django_db
def test_a_sync_started_by_hand_continues_a_dead_one(mal_settings, fake_mal):
    """No beat running (the command line): a start takes the silent run back itself."""
    dead = _running_full_sync(next_offset=1000, pages=2)
    silent = timezone.now() - timedelta(seconds=mal_settings.RUN_STALE_AFTER_SECONDS + 1)
    SyncRun.objects.filter(pk=dead.pk).update(heartbeat_at=silent)
    call_command("sync_catalog", "--mode", "full", "--no-progress")
    dead.refresh_from_db()
    assert (dead.state, dead.attempts, SyncRun.objects.count()) == ("done", 2, 1)
    assert _offsets(fake_mal.requests) == ["1000", "1500"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "error"), [("404", MalNotFound), ("400", MalBadRequest), ("garbage", MalBadPayload)]
)
def test_a_non_retryable_failure_ends_the_plan(mal_settings, fake_mal, kind, error):
    fake_mal.fail(kind, path="offset=1000", times=None)
    with pytest.raises(error):
        catalog_sync(mode="full")
    failed = SyncRun.objects.get()
    assert (failed.state, failed.retryable, failed.next_offset) == ("failed", False, 1000)
    assert len(fake_mal.requests_to("offset=1000")) == 1  # not retried either
    fake_mal.clear()
    fresh = catalog_sync(mode="full")
    assert fresh.resumed_from_id is None
    assert _offsets(fake_mal.requests) == ["0", "500", "1000", "1500"]


@pytest.mark.django_db
def test_a_retryable_failure_resumes(mal_settings, fake_mal):
    fake_mal.fail("429", path="offset=1000", times=None)
    with pytest.raises(MalThrottled):
        catalog_sync(mode="full")
    assert SyncRun.objects.get().retryable
    fake_mal.clear()
    assert catalog_sync(mode="full").resumed_from_id is not None
    assert _offsets(fake_mal.requests) == ["1000", "1500"]


@pytest.mark.django_db
def test_last_seasons_plan_is_not_resumed_after_the_season_changes(mal_settings, fake_mal):
    fake_mal.fail("503", path="/season/2025/summer", times=None)
    with pytest.raises(MalServerError):  # MalError
        catalog_sync(mode="seasonal", today=TODAY)
    assert SyncRun.objects.get().retryable
    fake_mal.clear()
    # Still autumn: resumes at the season that failed.
    same = catalog_sync(mode="seasonal", today=TODAY + timedelta(days=1))
    assert same.resumed_from_id is not None
    fake_mal.fail("503", path="/season/2026/winter", times=None)
    with pytest.raises(MalServerError):
        catalog_sync(mode="seasonal", today=TODAY, resume=False)
    fake_mal.clear()
    # Winter now: the autumn plan is stale, the new one starts at the current season.
    winter = catalog_sync(mode="seasonal", today=date(2026, 1, 10))
    assert winter.resumed_from_id is None
    assert fake_mal.requests[0].path.startswith("/v2/anime/season/2026/winter?")


def _prefetch_threads() -> list:
    return [t for t in threading.enumerate() if t.name == "mal-prefetch" and t.is_alive()]


@pytest.mark.django_db
def test_a_failed_run_stops_calling_mal_within_a_second(mal_settings, fake_mal, monkeypatch):
    """The next page is in a 30 s backoff when the run fails: the wait ends at once."""
    mal_settings.MAL_BACKOFF_MAX_SECONDS = 60
    fake_mal.fail("429", path="offset=500", times=None, retry_after="30")
    backoffs: list[float] = []
    backoff = MalClient._backoff

    def recorded_backoff(client, attempt, retry_after):
        backoffs.append(backoff(client, attempt, retry_after))
        return backoffs[-1]  # the prefetch thread sleeps this long next

    monkeypatch.setattr(MalClient, "_backoff", recorded_backoff)
    failed_at: list[float] = []

    def fail_after_first_page(written: int) -> None:
        wait_until(lambda: backoffs, timeout=30, what="the prefetch thread's 429 backoff")
        failed_at.append(time.monotonic())
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        catalog_sync(mode="full", progress=fail_after_first_page)
    assert time.monotonic() - failed_at[0] < 1.0
    assert backoffs == [30.0]  # MAL's Retry-After: the wait that had to be cut short
    # The prefetch thread is gone, so no request can follow: the page and its 429, no retry.
    assert _prefetch_threads() == []
    assert _offsets(fake_mal.requests) == ["0", "500"]
    assert SyncRun.objects.get().retryable is False


@pytest.mark.django_db(transaction=True)
def test_each_committed_page_is_durable(mal_settings, fake_mal):
    """Outside any test transaction: another connection sees exactly the committed pages."""
    fake_mal.fail("404", path="offset=1000", times=None)
    with pytest.raises(MalNotFound):
        catalog_sync(mode="full")
    seen: dict = {}

    def look() -> None:
        try:
            run = SyncRun.objects.get()
            seen.update(
                titles=Anime.objects.count(),
                checkpoint=(run.state, run.next_offset, run.pages, run.titles_created),
            )
        finally:
            connection.close()

    reader = threading.Thread(target=look)
    reader.start()
    reader.join(timeout=30)
    assert seen == {"titles": 1000, "checkpoint": ("failed", 1000, 2, 1000)}


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_sync_whose_worker_is_killed_every_attempt_continues_then_stays_failed(
    redis_broker, mal_settings, fake_mal
):
    # MAL hangs on the third page, every time: each worker is killed waiting on it.
    fake_mal.fail("504", path="offset=1000", times=None, delay=600)
    mal_settings.RUN_MAX_ATTEMPTS_OVERRIDES = {"sync": 2}
    worker_env = {
        "MAL_API_BASE_URL": fake_mal.base_url,
        "MAL_CLIENT_ID": mal_settings.MAL_CLIENT_ID,
        "MAL_REQUEST_INTERVAL_SECONDS": "0",
        "MAL_TIMEOUT_SECONDS": "600",
    }
    sync_catalog_task.delay(mode="full")

    def reap() -> dict:
        return reap_stale_syncs_task.apply().result

    for attempt in (1, 2):

        def waiting_on_mal(attempt=attempt):
            run = SyncRun.objects.filter(mode="full").first()
            return (
                run is not None
                and (run.state, run.attempts, run.pages) == ("running", attempt, 2)
                and len(fake_mal.requests_to("offset=1000")) == attempt
            )

        kill_worker_mid_run(waiting_on_mal, what=f"attempt {attempt} at offset 1000", **worker_env)
        mal_settings.RUN_STALE_AFTER_SECONDS = 1  # silent for 1 s: its worker is dead
        reap_until(reap, SyncRun.objects.get().pk, "requeued" if attempt == 1 else "failed")
    run = SyncRun.objects.get()  # the same row all along: no resumption row
    # The second attempt continued at the checkpoint: the first two pages were not fetched
    # again.
    assert _offsets(fake_mal.requests) == ["0", "500", "1000", "1000"]
    assert (run.state, run.attempts, run.pages, run.retryable) == ("failed", 2, 2, False)
    assert run.error.endswith("Attempt 2 of 2: gave up.")
    assert Anime.objects.count() == 1000
    # Failed for good: the reaper neither requeues nor resends it.
    assert reap() == {"requeued": [], "failed": [], "resent": []}
    assert redis_broker.control.purge() == 0
    assert SyncRun.objects.count() == 1
