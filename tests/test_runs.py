"""The one run lifecycle (animender.runs) on a real run model, TrainingRun.

Each kind's reaper through a real worker is tested with its kind (tests/recommender/
test_worker_killed.py, tests/catalog/test_sync_safety.py, tests/recommender/
test_engines_page.py); here the core's rules themselves: one claim, ownership, the
attempt cap, resends of lost messages and the per-kind settings.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from animender import runs
from recommender.models import TrainingRun
from tests.waiting import wait_until


class Sent(list):
    """The pks a kind's ``send`` was asked to queue (the task message, after commit)."""

    def __call__(self, pk: int) -> None:
        self.append(pk)


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def kind(sent) -> runs.RunKind:
    return runs.RunKind(name="training", model=TrainingRun, send=sent)


def _queued(**fields) -> TrainingRun:
    return TrainingRun.objects.create(engine="knn_baseline", trigger="test", **fields)


def _silence(run: TrainingRun, settings, *, field: str = "heartbeat_at") -> None:
    """As if the run had been silent for longer than the stale limit."""
    long_ago = timezone.now() - timedelta(seconds=settings.RUN_STALE_AFTER_SECONDS + 1)
    TrainingRun.objects.filter(pk=run.pk).update(**{field: long_ago})


def _reap(kind, django_capture_on_commit_callbacks) -> runs.Reaped:
    with django_capture_on_commit_callbacks(execute=True):
        return runs.runs_reap(kind)


@pytest.mark.django_db
def test_a_second_claim_of_the_same_run_gets_nothing():
    run = _queued()
    first = runs.run_claim(TrainingRun, run.pk)
    assert runs.run_claim(TrainingRun, run.pk) is None
    run.refresh_from_db()
    assert first is not None and first.attempt == 1
    assert (run.state, run.attempts, run.started_at) == ("running", 1, first.started_at)


@pytest.mark.django_db
def test_a_claim_of_a_missing_run_gets_nothing():
    assert runs.run_claim(TrainingRun, 999_999) is None


@pytest.mark.django_db
def test_a_finish_after_the_reaper_failed_the_run_changes_nothing(
    kind, settings, django_capture_on_commit_callbacks
):
    settings.RUN_MAX_ATTEMPTS = 1
    run = _queued()
    claim = runs.run_claim(TrainingRun, run.pk)
    _silence(run, settings)
    assert _reap(kind, django_capture_on_commit_callbacks).failed == [run.pk]
    # The slow worker wakes up and reports success: the reaper's verdict stands.
    assert runs.run_finish(claim, state="done", version="v-late") is False
    assert runs.run_update(claim, metrics={"late": 1}) is False
    run.refresh_from_db()
    assert (run.state, run.version, run.metrics) == ("failed", "", {})
    assert run.error.endswith("Attempt 1 of 1: gave up.")


@pytest.mark.django_db
def test_a_finish_after_the_run_was_requeued_and_claimed_again_changes_nothing(
    kind, settings, django_capture_on_commit_callbacks
):
    run = _queued()
    old = runs.run_claim(TrainingRun, run.pk)
    _silence(run, settings)
    assert _reap(kind, django_capture_on_commit_callbacks).requeued == [run.pk]
    new = runs.run_claim(TrainingRun, run.pk)
    assert new is not None and new.attempt == 2
    assert runs.run_finish(old, state="failed", error="old worker") is False
    assert runs.run_finish(new, state="done", version="v2") is True
    run.refresh_from_db()
    assert (run.state, run.version, run.attempts) == ("done", "v2", 2)


class RecordedHeartbeat(runs.Heartbeat):
    """The real heartbeat thread, keeping what each of its beats returned."""

    def __init__(self, claim: runs.Claim, **kwargs):
        super().__init__(claim, **kwargs)
        self.results: list[bool] = []

    def beat(self) -> bool:
        self.results.append(super().beat())
        return self.results[-1]


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_stops_writing_once_the_run_is_reaped(kind, settings):
    run = _queued()
    claim = runs.run_claim(TrainingRun, run.pk)
    with RecordedHeartbeat(claim, interval=0.05) as heartbeat:
        wait_until(
            lambda: TrainingRun.objects.get(pk=run.pk).heartbeat_at > claim.started_at,
            timeout=10,
            what="a heartbeat while owned",
        )
        assert heartbeat.results and all(heartbeat.results)
        # The reaper takes the run back (its worker is thought dead); no broker here. A
        # beat landing between the silencing and the reap wins (the run is alive): again.
        quiet = replace(kind, send=lambda pk: None)
        wait_until(
            lambda: _silence(run, settings) or runs.runs_reap(quiet).requeued == [run.pk],
            timeout=10,
            what="the reaper to take the run back",
        )
        stamped = TrainingRun.objects.get(pk=run.pk).heartbeat_at
        seen = len(heartbeat.results)
        wait_until(
            lambda: len(heartbeat.results) >= seen + 3,
            timeout=10,
            what="three more beats of the lost attempt",
        )
    assert heartbeat.results[-1] is False
    row = TrainingRun.objects.get(pk=run.pk)
    assert (row.state, row.heartbeat_at) == ("queued", stamped)


@pytest.mark.django_db
def test_a_run_whose_worker_dies_every_time_is_requeued_until_the_cap_then_failed(
    kind, sent, settings, django_capture_on_commit_callbacks
):
    assert settings.RUN_MAX_ATTEMPTS == 3  # the default
    run = _queued()
    for attempt in (1, 2):
        assert runs.run_claim(TrainingRun, run.pk).attempt == attempt
        _silence(run, settings)
        reaped = _reap(kind, django_capture_on_commit_callbacks)
        assert (reaped.requeued, reaped.failed) == ([run.pk], [])
        run.refresh_from_db()
        assert run.state == "queued"
        assert run.error.endswith(f"Attempt {attempt} of 3; queued again.")
    assert sent == [run.pk, run.pk]  # each requeue sent the task again
    assert runs.run_claim(TrainingRun, run.pk).attempt == 3
    _silence(run, settings)
    assert _reap(kind, django_capture_on_commit_callbacks).failed == [run.pk]
    run.refresh_from_db()
    assert (run.state, run.attempts) == ("failed", 3)
    assert run.error == f"{runs.WORKER_LOST} Attempt 3 of 3: gave up."
    assert run.finished_at is not None
    # Failed for good: later passes neither requeue nor resend it, and nothing claims it.
    _silence(run, settings)
    _silence(run, settings, field="created_at")
    assert _reap(kind, django_capture_on_commit_callbacks) == runs.Reaped()
    assert sent == [run.pk, run.pk]
    assert runs.run_claim(TrainingRun, run.pk) is None


@pytest.mark.django_db
def test_a_running_run_that_beats_is_left_alone(kind, sent, django_capture_on_commit_callbacks):
    run = _queued()
    runs.run_claim(TrainingRun, run.pk)
    assert _reap(kind, django_capture_on_commit_callbacks) == runs.Reaped()
    assert TrainingRun.objects.get(pk=run.pk).state == "running" and sent == []


@pytest.mark.django_db
def test_a_lost_queued_message_is_resent_once_per_stale_period(
    kind, sent, settings, django_capture_on_commit_callbacks
):
    run = _queued()
    assert _reap(kind, django_capture_on_commit_callbacks) == runs.Reaped()  # just queued
    _silence(run, settings, field="created_at")  # queued long ago, never claimed
    assert _reap(kind, django_capture_on_commit_callbacks).resent == [run.pk]
    assert sent == [run.pk]
    # The next pass within the same stale period leaves it: its resend is in flight.
    assert _reap(kind, django_capture_on_commit_callbacks) == runs.Reaped()
    assert sent == [run.pk]
    # Another silent period without a claim: sent once more.
    _silence(run, settings)
    assert _reap(kind, django_capture_on_commit_callbacks).resent == [run.pk]
    assert sent == [run.pk, run.pk]
    run.refresh_from_db()
    assert (run.state, run.attempts) == ("queued", 0)  # a resend is not an attempt


@pytest.mark.django_db
def test_per_kind_overrides_of_the_stale_limit_and_the_attempt_cap(
    kind, settings, django_capture_on_commit_callbacks
):
    settings.RUN_STALE_AFTER_SECONDS = 300
    settings.RUN_STALE_AFTER_OVERRIDES = {"training": 3600, "sync": 60}
    settings.RUN_MAX_ATTEMPTS = 3
    settings.RUN_MAX_ATTEMPTS_OVERRIDES = {"training": 1}
    other = replace(kind, name="evaluation")
    assert kind.stale_after() == timedelta(hours=1) and kind.max_attempts() == 1
    assert other.stale_after() == timedelta(seconds=300) and other.max_attempts() == 3
    run = _queued()
    runs.run_claim(TrainingRun, run.pk)
    # Silent for 10 minutes: stale by the global limit, not by training's own.
    TrainingRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    assert _reap(kind, django_capture_on_commit_callbacks) == runs.Reaped()
    TrainingRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=61)
    )
    # Training's cap is one attempt: failed at the first death, not requeued.
    assert _reap(kind, django_capture_on_commit_callbacks).failed == [run.pk]
    assert TrainingRun.objects.get(pk=run.pk).error.endswith("Attempt 1 of 1: gave up.")


@pytest.mark.django_db
def test_a_new_run_is_refused_while_one_is_active():
    active = _queued()
    with pytest.raises(runs.RunAlreadyActive, match=rf"\(#{active.pk}, queued\)") as refused:
        runs.run_create_exclusive(
            TrainingRun,
            active_filter={"engine": "knn_baseline"},
            describe="A training of knn_baseline",
            engine="knn_baseline",
        )
    assert refused.value.active == active
