"""Training runs cannot double, hang or pile up: claim, one per engine, heartbeat + reaper."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from animender.celery import app as celery_app
from recommender.engines.services import training_run_create
from recommender.engines.tasks import reap_stale_runs_task, train_all_task, train_engine_task
from recommender.ml import artifacts
from recommender.models import TrainingRun
from tests.conftest import run_concurrently

FAST = {"watchlist_nn": {"epochs": 2, "hidden": 16}, "knn_baseline": {}}


@pytest.fixture
def community(mini_data, settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "models"
    settings.RECOMMENDER_ENGINE_PARAMS = FAST
    call_command("import_catalog", str(mini_data), "--no-progress")
    call_command("import_ratings", str(mini_data / "ratings.csv"))


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        "sam", "sam@example.com", "pw", is_staff=True, is_superuser=True
    )


def test_visibility_timeout_outlasts_every_task_hard_limit(settings):
    import catalog.tasks  # noqa: F401 - registers the tasks
    import recommender.tasks  # noqa: F401

    limits = {t.name: t.time_limit for t in celery_app.tasks.values() if t.time_limit}
    assert {"catalog.sync_catalog", "recommender.train_engine"} <= limits.keys()
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert visibility > max(limits.values()), limits
    assert celery_app.conf.broker_transport_options["visibility_timeout"] == visibility


@pytest.mark.django_db
def test_the_same_message_delivered_twice_trains_once(community, settings):
    run = training_run_create(engine="knn_baseline", trigger="test")
    first = train_engine_task.apply(args=[run.pk])
    finished = TrainingRun.objects.get(pk=run.pk)
    again = train_engine_task.apply(args=[run.pk])  # the redelivery
    assert (first.result, again.result) == ("done", "done")
    assert TrainingRun.objects.get(pk=run.pk).finished_at == finished.finished_at
    versions = [p for p in (settings.MODEL_DIR / "knn_baseline").iterdir() if p.is_dir()]
    assert [p.name for p in versions] == [finished.version]


@pytest.mark.django_db
def test_a_second_start_is_refused_everywhere_while_one_is_active(community, client, staff, caplog):
    active = training_run_create(engine="watchlist_nn", trigger="test")
    client.force_login(staff)
    response = client.post(
        "/api/training-runs/", {"engine": "watchlist_nn"}, content_type="application/json"
    )
    assert response.status_code == 409
    assert response.json()["active_run"] == active.pk
    assert "already queued or running" in response.json()["detail"]
    with pytest.raises(CommandError, match="watchlist_nn is already queued or running"):
        call_command("train_models", "--engine", "watchlist_nn")
    with pytest.raises(CommandError, match="already queued or running"):
        call_command("train_models", "--engine", "watchlist_nn", "--queue")
    with caplog.at_level(logging.INFO, logger="recommender.engines.tasks"):
        queued = train_all_task.apply().result
    assert "nightly training of watchlist_nn skipped" in caplog.text
    assert TrainingRun.objects.filter(engine="watchlist_nn").count() == 1
    # The other engine was free, so the nightly run queued (and, eagerly, trained) it.
    assert TrainingRun.objects.filter(engine="knn_baseline", pk__in=queued).count() == 1
    admin_page = client.post(
        "/admin/recommender/trainingrun/",
        {"action": "retrain", "_selected_action": [active.pk]},
        follow=True,
    )
    assert "already queued or running" in admin_page.content.decode()
    assert TrainingRun.objects.filter(engine="watchlist_nn").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_starts_give_one_run():
    """Both threads pass any Python check at once; only the database can refuse one."""
    outcomes = run_concurrently(lambda: training_run_create(engine="knn_baseline", trigger="race"))
    assert sorted(type(o).__name__ for o in outcomes) == ["RunAlreadyActive", "TrainingRun"]
    assert TrainingRun.objects.filter(engine="knn_baseline").count() == 1


@pytest.mark.django_db
def test_reaper_requeues_a_silent_run_and_sends_it_again(
    settings, django_capture_on_commit_callbacks
):
    run = training_run_create(engine="knn_baseline", trigger="test", params={"k": 20})
    silent_since = timezone.now() - timedelta(seconds=settings.RUN_STALE_AFTER_SECONDS + 5)
    TrainingRun.objects.filter(pk=run.pk).update(
        state="running", attempts=1, started_at=silent_since, heartbeat_at=silent_since
    )
    beating = training_run_create(engine="watchlist_nn", trigger="test")
    TrainingRun.objects.filter(pk=beating.pk).update(
        state="running", attempts=1, started_at=silent_since, heartbeat_at=timezone.now()
    )
    with django_capture_on_commit_callbacks(execute=False) as sent:
        reaped = reap_stale_runs_task.apply().result
    assert reaped == {"requeued": [run.pk], "failed": [], "resent": []}
    # The same row goes back to the queue (no replacement row), its attempt counted.
    again = TrainingRun.objects.get(pk=run.pk)
    assert (again.state, again.attempts, again.params) == ("queued", 1, {"k": 20})
    assert "no heartbeat" in again.error and again.error.endswith("Attempt 1 of 3; queued again.")
    assert TrainingRun.objects.filter(engine="knn_baseline").count() == 1
    assert len(sent) == 1  # its task goes to the broker after commit
    assert TrainingRun.objects.get(pk=beating.pk).state == "running"


@pytest.mark.django_db
def test_a_queued_run_whose_message_was_lost_is_sent_again(
    settings, django_capture_on_commit_callbacks
):
    run = training_run_create(engine="knn_baseline", trigger="test")
    long_ago = timezone.now() - timedelta(seconds=settings.RUN_STALE_AFTER_SECONDS + 60)
    TrainingRun.objects.filter(pk=run.pk).update(created_at=long_ago)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert reap_stale_runs_task.apply().result["resent"] == [run.pk]
    assert len(sent) == 1
    assert TrainingRun.objects.get(pk=run.pk).state == "queued"


@pytest.mark.django_db
def test_a_reaped_run_is_not_marked_done_by_its_slow_worker(community, settings, monkeypatch):
    """The worker was only slow: its late finish must not resurrect the failed row."""
    from recommender.engines import services

    run = training_run_create(engine="knn_baseline", trigger="test")
    real = services._train_and_publish

    def slow_then_reaped(r, spec):
        TrainingRun.objects.filter(pk=r.pk).update(state="failed", error="reaped")
        return real(r, spec)

    monkeypatch.setattr(services, "_train_and_publish", slow_then_reaped)
    services.training_run_execute(run_id=run.pk)
    row = TrainingRun.objects.get(pk=run.pk)
    assert (row.state, row.error) == ("failed", "reaped")
    assert artifacts.current_version(settings.MODEL_DIR, "knn_baseline") is not None
