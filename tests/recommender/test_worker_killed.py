"""A real worker process killed with SIGKILL mid-training, every attempt: the reaper
requeues the run until its attempt cap, then it stays failed; the old model serves."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from recommender.engines.services import training_run_create, training_run_execute
from recommender.engines.tasks import reap_stale_runs_task, train_engine_task
from recommender.ml import artifacts
from recommender.models import TrainingRun
from tests.workers import kill_worker_mid_run, reap_until


def _reap() -> dict:
    return reap_stale_runs_task.apply().result


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_training_whose_worker_is_killed_every_attempt_ends_failed_and_the_old_model_serves(
    redis_broker, mini_data, settings, tmp_path, client, django_user_model
):
    settings.MODEL_DIR = tmp_path
    call_command("import_catalog", str(mini_data), "--no-progress")
    call_command("import_ratings", str(mini_data / "ratings.csv"))
    first = training_run_create(engine="watchlist_nn", trigger="test", params={"epochs": 2})
    first = training_run_execute(run_id=first.pk)
    assert artifacts.current_version(tmp_path, "watchlist_nn") == first.version

    # Long enough to be killed in the middle of it; two attempts allowed (a short test).
    settings.RUN_MAX_ATTEMPTS_OVERRIDES = {"training": 2}
    doomed = training_run_create(engine="watchlist_nn", trigger="test", params={"epochs": 5000})
    train_engine_task.delay(doomed.pk)
    worker_env = {"ANIMENDER_MODEL_DIR": str(tmp_path), "RECOMMENDER_ENGINE_PARAMS": "{}"}
    for attempt in (1, 2):

        def beating(attempt=attempt):
            run = TrainingRun.objects.get(pk=doomed.pk)
            return (
                run.state == "running"
                and run.attempts == attempt
                and run.heartbeat_at > run.started_at
            )

        kill_worker_mid_run(beating, what=f"attempt {attempt} to beat", **worker_env)
        assert TrainingRun.objects.get(pk=doomed.pk).state == "running"  # what it would stay
        if attempt == 1:
            # Its last heartbeat is recent: not stale yet, so the reaper leaves it alone.
            settings.RUN_STALE_AFTER_SECONDS = 60
            assert _reap() == {"requeued": [], "failed": [], "resent": []}
        settings.RUN_STALE_AFTER_SECONDS = 1  # silent for 1 s: its worker is dead
        outcome = "requeued" if attempt == 1 else "failed"
        reap_until(_reap, doomed.pk, outcome)
        dead = TrainingRun.objects.get(pk=doomed.pk)
        if attempt == 1:
            # The same row, back in the queue, its message sent again (to the next worker).
            assert (dead.state, dead.attempts) == ("queued", 1)
            assert dead.error.endswith("Attempt 1 of 2; queued again.")
    assert (dead.state, dead.attempts) == ("failed", 2)
    assert dead.error.endswith("Attempt 2 of 2: gave up.") and "no heartbeat" in dead.error
    # Not requeued again: no new row, no message waiting in the broker.
    assert _reap() == {"requeued": [], "failed": [], "resent": []}
    assert TrainingRun.objects.filter(engine="watchlist_nn").count() == 2
    assert redis_broker.control.purge() == 0
    # The API shows the attempts and the last error to staff.
    staff = django_user_model.objects.create_user("sam", password="pw", is_staff=True)
    client.force_login(staff)
    shown = client.get(f"/api/training-runs/{doomed.pk}/").json()
    assert (shown["state"], shown["attempts"], shown["max_attempts"]) == ("failed", 2, 2)
    assert shown["error"] == dead.error
    client.logout()
    assert artifacts.current_version(tmp_path, "watchlist_nn") == first.version
    served = client.post(
        "/api/recommendations/",
        {"engine": "watchlist_nn", "entries": [{"mal_id": 1, "score": 9}]},
        content_type="application/json",
    )
    assert served.status_code == 200 and served.json()["version"] == first.version
    leftovers = [p.name for p in (tmp_path / "watchlist_nn").iterdir() if p.is_dir()]
    assert leftovers == [first.version]
