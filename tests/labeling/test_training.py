"""Per-member taste training: states, triggers, superseding, claims, artifacts, isolation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Profile
from catalog.models import Anime
from labeling.models import Label, TasteScores, TasteTrainingRun
from labeling.tasks import reap_stale_taste_runs_task, train_taste_model_task
from labeling.taste import features as catalog_features
from labeling.taste.runs import (
    taste_training_execute,
    taste_training_request,
    user_artifacts_root,
)
from labeling.taste.selectors import taste_ask_order_get, taste_scores_get
from recommender.ml import artifacts

from .conftest import label_planted, list_entry, main_genre

pytestmark = pytest.mark.django_db

TRAIN = "/api/me/models/train/"
MODELS = "/api/me/models/"


def versions_on_disk(user) -> list[str]:
    base = artifacts.engine_dir(user_artifacts_root(), str(user.pk))
    return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.exists() else []


def trained(user, catalog, n=30) -> TasteTrainingRun:
    label_planted(user, catalog, n)
    run = taste_training_request(user=user)
    return taste_training_execute(run_id=run.pk)


def test_one_class_labels_get_a_clear_answer_not_a_run(alice_client, alice, catalog):
    for anime in catalog[:12]:
        Label.objects.create(user=alice, anime=anime, answer="like")
    resp = alice_client.post(TRAIN)
    assert resp.status_code == 400
    assert "one you wouldn't" in str(resp.json())
    assert not TasteTrainingRun.objects.exists()


def test_the_tenth_answer_retrains_in_the_background(
    alice_client, alice, catalog, django_capture_on_commit_callbacks
):
    for anime in catalog[:9]:
        alice_client.post(
            "/api/me/labels/",
            {
                "mal_id": anime.mal_id,
                "answer": "like" if main_genre(anime) == "Mecha" else "dislike",
            },
            content_type="application/json",
        )
    assert not TasteTrainingRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        resp = alice_client.post(
            "/api/me/labels/",
            {"mal_id": catalog[9].mal_id, "answer": "like"},
            content_type="application/json",
        )
    assert resp.status_code == 201
    run = TasteTrainingRun.objects.get(user=alice)
    assert run.state == "done", run.error
    assert run.trigger == "labels"
    assert (run.n_labels, run.n_pos, run.n_neg) == (10, 3, 7)
    assert artifacts.current_version(user_artifacts_root(), str(alice.pk)) == run.version
    assert taste_scores_get(user=alice)[2] == run.version
    progress = alice_client.get(MODELS).json()["progress"]
    assert progress["labels_until_retrain"] == 10
    assert progress["model_version"] == run.version
    assert alice_client.get("/api/me/queue/").json()["strategy"] == "uncertainty"


def test_a_run_records_metrics_durations_and_what_the_model_learned(
    alice_client, alice, catalog, django_capture_on_commit_callbacks
):
    label_planted(alice, catalog, 48)
    with django_capture_on_commit_callbacks(execute=True):
        resp = alice_client.post(TRAIN)
    assert resp.status_code == 202
    run = TasteTrainingRun.objects.get(pk=resp.json()["id"])
    assert run.state == "done" and run.trigger == "manual"
    m = run.metrics
    assert m["base_rate"] == pytest.approx(run.n_pos / run.n_labels)
    # The planted taste (Mecha and Sports) is easy: far better than guessing.
    assert m["average_precision"] > m["base_rate"] + 0.3
    assert m["roc_auc"] > 0.8
    assert len(m["pr_curve"]["precision"]) == len(m["pr_curve"]["recall"]) > 2
    assert set(run.durations) >= {"features_s", "cv_s", "fit_s", "score_s", "publish_s"}
    up = " ".join(name.lower() for name, _ in m["explain"]["up"])
    assert any(word in up for word in ("mecha", "sports", "robot", "pilot", "team", "match"))
    listed = alice_client.get(MODELS).json()["results"][0]
    assert listed["average_precision"] == pytest.approx(m["average_precision"])
    assert listed["status"] == "done"
    # Stored scores follow the planted taste: liked genres score above disliked ones.
    ids, proba, _ = taste_scores_get(user=alice)
    score = dict(zip(ids.tolist(), proba.tolist(), strict=True))
    by_genre = {}
    for anime in catalog[48:96]:
        by_genre.setdefault(main_genre(anime), []).append(score[anime.mal_id])
    liked = min(sum(by_genre[g]) / len(by_genre[g]) for g in ("Mecha", "Sports"))
    assert liked > max(sum(by_genre[g]) / len(by_genre[g]) for g in ("Romance", "Horror"))


def test_list_scores_seed_a_model_when_the_member_allows_it(alice, catalog, settings):
    settings.RECOMMENDER_LIKE_MIN_SCORE, settings.RECOMMENDER_DISLIKE_MAX_SCORE = 8, 5
    expected = 0
    for anime in catalog[:40]:
        genre = main_genre(anime)
        score = {"Mecha": 9, "Sports": 8, "Romance": 3, "Horror": 5}.get(genre, 7)
        list_entry(alice, anime, score=score)
        expected += score != 7  # 7 is neither like nor dislike
    Label.objects.create(user=alice, anime=catalog[40], answer="like")  # Horror: explicit wins
    run = taste_training_execute(run_id=taste_training_request(user=alice, trigger="list").pk)
    assert run.state == "done", run.error
    assert run.n_from_list == expected
    assert run.n_labels == expected + 1
    Profile.objects.update_or_create(user=alice, defaults={"labels_from_list": False})
    with pytest.raises(ValidationError):
        taste_training_request(user=alice)  # one like left: not enough to train


def test_a_newer_request_supersedes_a_queued_one(alice, catalog):
    label_planted(alice, catalog, 20)
    first = taste_training_request(user=alice)
    second = taste_training_request(user=alice)
    first.refresh_from_db()
    assert first.state == "superseded"
    assert second.state == "queued"
    assert train_taste_model_task(first.pk) == "not claimed"
    assert train_taste_model_task(second.pk) == "done"
    assert TasteTrainingRun.objects.filter(state="done").count() == 1


def test_a_redelivered_task_trains_once(alice, catalog):
    label_planted(alice, catalog, 20)
    run = taste_training_request(user=alice)
    assert train_taste_model_task(run.pk) == "done"
    assert train_taste_model_task(run.pk) == "not claimed"
    assert len(versions_on_disk(alice)) == 1


def test_the_database_refuses_two_running_runs_for_one_member(alice, charlie):
    TasteTrainingRun.objects.create(user=alice, state="running")
    TasteTrainingRun.objects.create(user=charlie, state="running")  # others are independent
    with pytest.raises(IntegrityError), transaction.atomic():
        TasteTrainingRun.objects.create(user=alice, state="running")
    TasteTrainingRun.objects.create(user=alice, state="queued")
    with pytest.raises(IntegrityError), transaction.atomic():
        TasteTrainingRun.objects.create(user=alice, state="queued")


def _silent(settings) -> dt.datetime:
    """A heartbeat older than the taste kind's stale limit."""
    limit = settings.RUN_STALE_AFTER_OVERRIDES.get("taste", settings.RUN_STALE_AFTER_SECONDS)
    return timezone.now() - dt.timedelta(seconds=limit + 5)


def test_a_run_waits_while_the_members_previous_run_trains(
    alice, catalog, settings, django_capture_on_commit_callbacks
):
    label_planted(alice, catalog, 20)
    silent = _silent(settings)
    busy = TasteTrainingRun.objects.create(
        user=alice, state="running", attempts=1, started_at=silent, heartbeat_at=silent
    )
    waiting = taste_training_request(user=alice)
    assert taste_training_execute(run_id=waiting.pk) is None  # blocked by the running one
    waiting.refresh_from_db()
    assert waiting.state == "queued"
    # The running run's worker died: the newer queued run replaces it and is started.
    with django_capture_on_commit_callbacks(execute=True):
        reaped = reap_stale_taste_runs_task()
    assert reaped["superseded"] == [busy.pk] and reaped["requeued"] == []
    busy.refresh_from_db()
    waiting.refresh_from_db()
    assert busy.state == "superseded" and "Worker lost" in busy.error
    assert waiting.state == "done", waiting.error


def test_a_silent_run_is_queued_again_and_trains_on_the_next_attempt(
    alice, catalog, settings, django_capture_on_commit_callbacks
):
    label_planted(alice, catalog, 20)
    silent = _silent(settings)
    run = TasteTrainingRun.objects.create(
        user=alice, state="running", attempts=1, started_at=silent, heartbeat_at=silent
    )
    with django_capture_on_commit_callbacks(execute=True):
        reaped = reap_stale_taste_runs_task()
    assert reaped["requeued"] == [run.pk]
    run.refresh_from_db()
    assert (run.state, run.attempts, run.error) == ("done", 2, "")
    assert TasteScores.objects.get(user=alice).run_id == run.pk


def test_a_run_that_used_its_attempts_stays_failed_and_says_why(
    alice, alice_client, catalog, settings, django_capture_on_commit_callbacks
):
    silent = _silent(settings)
    cap = settings.RUN_MAX_ATTEMPTS
    run = TasteTrainingRun.objects.create(
        user=alice, state="running", attempts=cap, started_at=silent, heartbeat_at=silent
    )
    with django_capture_on_commit_callbacks(execute=True) as sent:
        reaped = reap_stale_taste_runs_task()
    assert reaped["failed"] == [run.pk] and reaped["requeued"] == []
    assert sent == []  # not queued again
    run.refresh_from_db()
    assert run.state == "failed" and f"Attempt {cap} of {cap}: gave up" in run.error
    listed = alice_client.get(MODELS).json()["results"][0]
    assert (listed["status"], listed["attempts"], listed["max_attempts"]) == ("failed", cap, cap)
    assert "gave up" in listed["error"]
    page = alice_client.get("/me/model/").content.decode()
    assert f"failed after {cap} of {cap} attempts" in page and "gave up" in page


def test_a_live_run_is_not_reaped(alice):
    now = timezone.now()
    TasteTrainingRun.objects.create(
        user=alice, state="running", attempts=1, started_at=now, heartbeat_at=now
    )
    assert reap_stale_taste_runs_task() == {
        "requeued": [],
        "failed": [],
        "resent": [],
        "superseded": [],
    }


def test_a_failed_run_says_why_and_keeps_the_previous_model(alice, catalog):
    first = trained(alice, catalog, 20)
    run = taste_training_request(user=alice)
    Label.objects.filter(user=alice, answer="dislike").delete()  # only likes are left
    failed = taste_training_execute(run_id=run.pk)
    assert failed.state == "failed"
    assert "one you wouldn't" in failed.error
    assert failed.finished_at is not None
    assert TasteScores.objects.get(user=alice).version == first.version
    assert artifacts.current_version(user_artifacts_root(), str(alice.pk)) == first.version


def test_versions_are_pruned_and_a_crashed_write_never_becomes_current(alice, catalog):
    runs = [trained(alice, catalog, 20)]
    for _ in range(3):
        runs.append(taste_training_execute(run_id=taste_training_request(user=alice).pk))
    assert [r.state for r in runs] == ["done"] * 4
    on_disk = versions_on_disk(alice)
    assert on_disk == sorted(r.version for r in runs[1:])  # the oldest was pruned
    base = artifacts.engine_dir(user_artifacts_root(), str(alice.pk))

    def crash(directory):
        (directory / "model.txt").write_text("half a model")
        raise OSError("disk full")

    with pytest.raises(OSError):
        artifacts.publish(user_artifacts_root(), str(alice.pk), "99999999T999999", [], {}, crash)
    assert artifacts.current_version(user_artifacts_root(), str(alice.pk)) == runs[-1].version
    assert versions_on_disk(alice) == on_disk  # no half-written version left behind
    assert not [p for p in base.iterdir() if p.name.startswith(".")]


def test_members_models_are_isolated(client, alice, charlie, catalog):
    alice_run = trained(alice, catalog, 30)
    charlie_labels = label_planted(charlie, catalog, 20, offset=40)
    for label in charlie_labels:  # charlie's taste is the opposite of alice's
        label.answer = "dislike" if label.answer == "like" else "like"
        label.save()
    charlie_run = taste_training_execute(run_id=taste_training_request(user=charlie).pk)
    assert charlie_run.state == "done"
    assert versions_on_disk(alice) == [alice_run.version]
    assert versions_on_disk(charlie) == [charlie_run.version]
    assert TasteScores.objects.get(user=alice).run_id == alice_run.pk
    client.force_login(charlie)
    runs = client.get(MODELS).json()["results"]
    assert [r["id"] for r in runs] == [charlie_run.pk]
    a_ids, a_proba, _ = taste_scores_get(user=alice)
    c_ids, c_proba, _ = taste_scores_get(user=charlie)
    mecha = [i for i, m in enumerate(a_ids.tolist()) if 1000 <= m < 1096 and (m - 1000) % 6 == 0]
    assert a_proba[mecha].mean() > c_proba[mecha].mean()


def test_models_api_is_for_members_only(client):
    assert client.get(MODELS).status_code == 403
    assert client.post(TRAIN).status_code == 403


def test_features_are_built_once_per_catalog_version_and_rebuilt_after_an_import(alice, catalog):
    first = trained(alice, catalog, 20)
    features_dir = artifacts.engine_dir(catalog_features.taste_root(), "catalog")
    assert artifacts.current_version(catalog_features.taste_root(), "catalog") == (
        first.catalog_version
    )
    second = taste_training_execute(run_id=taste_training_request(user=alice).pk)
    assert second.catalog_version == first.catalog_version
    assert len([p for p in features_dir.iterdir() if p.is_dir()]) == 1
    # A sync or import stamps updated_at: the next run builds features for the new catalog.
    Anime.objects.filter(pk=catalog[0].pk).update(
        synopsis="rewritten", updated_at=timezone.now() + dt.timedelta(seconds=5)
    )
    third = taste_training_execute(run_id=taste_training_request(user=alice).pk)
    assert third.state == "done"
    assert third.catalog_version != first.catalog_version
    assert artifacts.current_version(catalog_features.taste_root(), "catalog") == (
        third.catalog_version
    )


def test_catalog_frame_has_the_taste_models_columns(catalog):
    from recommender.ml.taste import CATALOG_COLUMNS

    frame = catalog_features.catalog_frame()
    assert list(frame.columns) == list(CATALOG_COLUMNS)
    assert len(frame) == len(catalog)
    row = frame.set_index("anime_id").loc[1000]
    if "genres" in frame:
        assert "Mecha" in row["genres"]
    if "themes" in frame:
        assert row["themes"] == "Mecha"  # Mecha is a theme; Romance is not
    if "type" in frame:
        assert row["type"] == "TV"


def test_a_run_stores_the_questions_to_ask_next(alice_client, alice, catalog, settings):
    settings.TASTE_ASK_POOL, settings.TASTE_ASK_ORDER = 40, 12
    listed = [a for a in catalog if not a.is_adult][30]
    list_entry(alice, listed, status="plan_to_watch")
    run = trained(alice, catalog, n=30)
    assert run.state == "done", run.error
    assert "ask_order_s" in run.durations
    ask = taste_ask_order_get(user=alice).tolist()
    assert len(ask) == len(set(ask)) == 12
    labeled = set(Label.objects.filter(user=alice).values_list("anime_id", flat=True))
    # Chosen among the 40 most popular titles not labeled, listed or hidden (adult).
    pool = [
        a.mal_id
        for a in sorted(catalog, key=lambda a: (a.popularity, a.mal_id))
        if not a.is_adult and a.mal_id not in labeled and a != listed
    ][:40]
    assert set(ask) <= set(pool)
    # The queue asks them first, in that order.
    resp = alice_client.get("/api/me/queue/", {"limit": 5}).json()
    assert [item["mal_id"] for item in resp["results"]] == ask[:5]
    assert {item["reason"] for item in resp["results"]} == {"uncertainty"}


@pytest.mark.django_db(transaction=True)
def test_deleting_the_account_mid_fit_leaves_no_model_files(alice_client, alice, catalog):
    import sys
    import threading

    from django.db import connection

    from recommender.ml.taste import TasteModel

    label_planted(alice, catalog, 30)
    # Created directly: taste_training_request's on_commit would train at once (eager
    # Celery, autocommit) instead of in the thread below.
    run = TasteTrainingRun.objects.create(user=alice)
    at_fit, resume = threading.Event(), threading.Event()
    outcome: list = []

    def pause_in_fit(frame, event, arg):
        # Holds the worker thread inside the real TasteModel.fit until the account is gone.
        if event == "call" and frame.f_code is TasteModel.fit.__code__ and not at_fit.is_set():
            at_fit.set()
            assert resume.wait(timeout=60)
        return None

    def work() -> None:
        sys.settrace(pause_in_fit)
        try:
            outcome.append(train_taste_model_task(run.pk))
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)
        finally:
            sys.settrace(None)
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert at_fit.wait(timeout=60), "the run never reached the fit"
        deleted = alice_client.post("/me/delete/", {"password": "pw-alice-123", "confirm": "on"})
        assert deleted.status_code == 302
    finally:
        resume.set()
        worker.join(timeout=120)
    assert not worker.is_alive()
    assert outcome == ["not claimed"]  # the run's row went with the account
    assert not artifacts.engine_dir(user_artifacts_root(), str(alice.pk)).exists()
    assert not TasteScores.objects.filter(user_id=alice.pk).exists()


def test_the_admin_lists_a_failed_runs_state_attempts_and_error(client, django_user_model, alice):
    TasteTrainingRun.objects.create(
        user=alice, state="failed", attempts=3, error="Worker lost: ... Attempt 3 of 3: gave up."
    )
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")
    client.force_login(admin)
    page = client.get("/admin/labeling/tastetrainingrun/").content.decode()
    assert "Attempt 3 of 3: gave up." in page and "column-attempts" in page
