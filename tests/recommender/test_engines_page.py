"""The public Engines page, EvaluationRun and the staff re-run as a Celery task."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command

from recommender.evaluation.runs import (
    EvaluationBusyError,
    evaluation_run_enqueue,
    evaluation_run_execute,
)
from recommender.evaluation.tasks import reap_stale_evaluations_task
from recommender.models import EvaluationRun
from tests.workers import kill_worker_mid_run, reap_until

ENGINES = ["popularity", "ease"]


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("sam", "sam@example.com", "pw", is_staff=True)


@pytest.fixture
def community(mini_data):
    call_command("import_catalog", str(mini_data), "--no-progress")
    call_command("import_ratings", str(mini_data / "ratings.csv"))


@pytest.mark.django_db
def test_engines_page_without_evaluation_says_so(client):
    html = client.get("/engines/").content.decode()
    assert "No offline evaluation has been recorded yet" in html
    assert "Re-run the evaluation" not in html  # staff only
    assert "not trained yet" in html


@pytest.mark.django_db
def test_evaluate_command_result_is_the_page_latest_evaluation(community, client, capsys):
    call_command("evaluate", "--quick", "--engines", *ENGINES, "--sample", "30")
    assert "Recorded as evaluation #" in capsys.readouterr().out
    run = EvaluationRun.objects.get()
    assert (run.state, run.trigger, run.active) == ("done", "command", None)
    assert set(run.results) == set(ENGINES)
    assert 0 < run.results["ease"]["ndcg@10"] <= 1 and run.meta["n_users"] == 399
    html = client.get("/engines/").content.decode()
    ease = f"{run.results['ease']['ndcg@10']:.3f}"
    assert 'data-engine="ease"' in html and ease in html
    assert "399" in html and "community ratings in the database" in html
    # The plot is inline SVG: no CDN script, stylesheet or image on the page.
    assert "<svg" in html and 'class="bar' in html
    for tag in ('src="http', 'href="http'):
        assert tag not in html.replace('href="https://myanimelist.net', "")
    assert "None" not in html and "nan" not in html


@pytest.mark.django_db
def test_staff_queue_a_run_and_see_its_progress(client, staff):
    client.force_login(staff)
    page = client.get("/engines/").content.decode()
    assert "Run full evaluation" in page and "csrfmiddlewaretoken" in page
    response = client.post("/engines/evaluate/", {"mode": "quick"})
    assert response.status_code == 302
    run = EvaluationRun.objects.get()
    assert (run.state, run.quick, run.requested_by, run.active) == ("queued", True, staff, True)
    html = client.get("/engines/").content.decode()
    assert f"Evaluation #{run.pk} queued" in html and 'http-equiv="refresh"' in html
    client.post("/engines/evaluate/", {"mode": "full"})
    assert EvaluationRun.objects.count() == 1  # one at a time
    assert "already queued or running" in client.get("/engines/").content.decode()


@pytest.mark.django_db
def test_non_staff_cannot_start_an_evaluation(client, alice):
    client.post("/engines/evaluate/", {"mode": "quick"})
    client.force_login(alice)
    response = client.post("/engines/evaluate/", {"mode": "quick"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert client.get("/engines/evaluate/").status_code == 405
    assert not EvaluationRun.objects.exists()


@pytest.mark.django_db
def test_queued_run_executes_with_progress_and_only_once(
    community, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = evaluation_run_enqueue(quick=True, engines=ENGINES, trigger="test")
    run.refresh_from_db()
    assert run.state == "done", run.error
    assert (run.steps_done, run.steps_total, run.current_step) == (2, 2, "done")
    assert run.results["ease"]["ndcg@10"] > run.results["popularity"]["ndcg@10"]
    assert "data_dir" not in run.meta and run.finished_at >= run.started_at
    finished = run.finished_at
    # Redelivered task: the claim fails and nothing runs again.
    assert evaluation_run_execute(run_id=run.pk).finished_at == finished
    with pytest.raises(ValueError, match="unknown engines"):
        evaluation_run_enqueue(engines=["nope"])


@pytest.mark.django_db
def test_failed_run_is_shown_and_frees_the_slot(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = evaluation_run_enqueue(quick=True, engines=ENGINES)
    run.refresh_from_db()
    assert run.state == "failed" and "import_ratings" in run.error and run.active is None
    assert "failed.</strong> NoEvaluationDataError" in client.get("/engines/").content.decode()
    second = evaluation_run_enqueue(quick=True, engines=ENGINES)  # not busy any more
    with pytest.raises(EvaluationBusyError):
        evaluation_run_enqueue(quick=True, engines=ENGINES)
    assert second.state == "queued"


@pytest.mark.django_db
def test_an_evaluation_whose_worker_keeps_dying_fails_frees_the_slot_and_says_why(
    client, settings, django_capture_on_commit_callbacks
):
    stuck = evaluation_run_enqueue(quick=True, engines=ENGINES)
    with pytest.raises(EvaluationBusyError):
        evaluation_run_enqueue(quick=True, engines=ENGINES)
    settings.RUN_MAX_ATTEMPTS_OVERRIDES = {"evaluation": 1}
    # Claimed by a worker that then died: silent for longer than the stale limit.
    EvaluationRun.objects.filter(pk=stuck.pk).update(
        state="running", attempts=1, started_at="2020-01-01T00:00:00Z", heartbeat_at=None
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert reap_stale_evaluations_task.apply().result["failed"] == [stuck.pk]
    stuck.refresh_from_db()
    assert (stuck.state, stuck.active) == ("failed", None)
    assert stuck.error.endswith("Attempt 1 of 1: gave up.")
    html = client.get("/engines/").content.decode()
    assert f"The last evaluation (#{stuck.pk}) failed.</strong> Worker lost" in html
    assert evaluation_run_enqueue(quick=True, engines=ENGINES).state == "queued"


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_evaluation_runs_on_a_real_worker_through_redis(redis_broker, community):
    with start_worker(redis_broker, perform_ping_check=False, shutdown_timeout=10):
        run = evaluation_run_enqueue(quick=True, engines=["popularity"], trigger="test")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.state in ("done", "failed"):
                break
            time.sleep(0.3)
    assert run.state == "done", run.error
    assert 0 < run.results["popularity"]["ndcg@10"] < 1


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_an_evaluation_whose_worker_is_killed_every_attempt_ends_failed_on_the_page(
    redis_broker, community, settings, client
):
    settings.RUN_MAX_ATTEMPTS_OVERRIDES = {"evaluation": 2}
    # A full (not quick) evaluation of the neural engine: long enough to be killed in.
    run = evaluation_run_enqueue(engines=["watchlist_nn"], trigger="test")

    def reap() -> dict:
        return reap_stale_evaluations_task.apply().result

    for attempt in (1, 2):

        def beating(attempt=attempt):
            row = EvaluationRun.objects.get(pk=run.pk)
            return (
                row.state == "running"
                and row.attempts == attempt
                and row.heartbeat_at > row.started_at
            )

        kill_worker_mid_run(beating, what=f"evaluation attempt {attempt} to beat")
        assert EvaluationRun.objects.get(pk=run.pk).state == "running"
        settings.RUN_STALE_AFTER_SECONDS = 1  # silent for 1 s: its worker is dead
        reap_until(reap, run.pk, "requeued" if attempt == 1 else "failed")
    run.refresh_from_db()
    assert (run.state, run.attempts, run.active) == ("failed", 2, None)
    assert run.error.endswith("Attempt 2 of 2: gave up.")
    assert reap() == {"requeued": [], "failed": [], "resent": []}
    assert redis_broker.control.purge() == 0
    html = client.get("/engines/").content.decode()
    assert f"The last evaluation (#{run.pk}) failed after 2 attempts.</strong> Worker lost" in html
