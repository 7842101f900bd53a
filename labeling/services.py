"""Writes for labeling: answers, and the per-member taste-model training runs.

A run goes queued -> running -> done | failed (or superseded while queued). The database
allows one queued and one running run per member; a worker claims a run with one
conditional UPDATE, so a redelivered task trains once, and a run that finds its member's
previous run still training leaves its row queued: the finishing run starts it.
"""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from catalog.models import Anime
from recommender.ml import artifacts

from .catalog_features import catalog_features_get, features_version, taste_root
from .models import Label, TasteScores, TasteTrainingRun
from .selectors import (
    NEED_BOTH,
    labels_since_last_run,
    profile_for,
    taste_ask_pool,
    taste_example_counts,
    taste_training_examples,
)

log = logging.getLogger(__name__)

Status = TasteTrainingRun.Status
PR_CURVE_POINTS = 101
EXPLAIN_TOP = 12


def user_artifacts_root() -> Path:
    return taste_root() / "users"


# --- labels -------------------------------------------------------------------------------


def label_save(*, user, mal_id: int, answer: str, reason: str = "") -> tuple[Label, bool]:
    """Record (or change) ``user``'s answer about a title; returns ``(label, created)``.

    Queues a retrain when enough new like/dislike answers have arrived since the last one.
    """
    if answer not in Label.Answer.values:
        raise ValidationError({"answer": [f"choose one of {', '.join(Label.Answer.values)}"]})
    visible = Anime.objects.filter(pk=mal_id)
    if not profile_for(user=user).show_adult:
        visible = visible.filter(is_adult=False)
    if not visible.exists():
        raise ValidationError({"mal_id": [f"no title with MAL id {mal_id}"]})
    label, created = Label.objects.update_or_create(
        user=user, anime_id=mal_id, defaults={"answer": answer, "reason": reason[:20]}
    )
    if answer != Label.Answer.SKIP:
        taste_training_request_if_due(user=user)
    _recommendations_refresh(user.pk, "label")
    return label, created


def label_delete(*, label: Label) -> None:
    label.delete()
    _recommendations_refresh(label.user_id, "label")


def _recommendations_refresh(user_id: int, trigger: str) -> None:
    """A label changes what the member's recommendations exclude and learn from."""
    from recommender.personal_services import recommendations_refresh_request

    recommendations_refresh_request(user_id=user_id, trigger=trigger)


# --- training requests --------------------------------------------------------------------


def taste_training_request(*, user, trigger: str = TasteTrainingRun.Trigger.MANUAL):
    """Queue a training of ``user``'s model; a run still queued is superseded by this one.

    Raises ``ValidationError`` when the labels cannot train a model yet.
    """
    from recommender.ml.taste import MIN_LABELS

    from .tasks import train_taste_model_task

    likes, dislikes = taste_example_counts(user=user)
    if not likes or not dislikes:
        raise ValidationError(NEED_BOTH)
    if likes + dislikes < MIN_LABELS:
        raise ValidationError(
            f"need at least {MIN_LABELS} labels to train (you have {likes + dislikes})"
        )
    last_label_id = Label.objects.filter(user=user).aggregate(m=Max("pk"))["m"] or 0
    try:
        with transaction.atomic():
            TasteTrainingRun.objects.filter(user=user, status=Status.QUEUED).update(
                status=Status.SUPERSEDED,
                finished_at=timezone.now(),
                error="superseded by a newer request",
            )
            run = TasteTrainingRun.objects.create(
                user=user, trigger=trigger, last_label_id=last_label_id
            )
    except IntegrityError:
        # A concurrent request queued one in the same instant; that run will train.
        return TasteTrainingRun.objects.get(user=user, status=Status.QUEUED)
    transaction.on_commit(lambda: train_taste_model_task.delay(run.pk))
    return run


def taste_training_request_if_due(*, user) -> TasteTrainingRun | None:
    """Queue a retrain after every TASTE_RETRAIN_EVERY new answers, once both kinds exist."""
    if labels_since_last_run(user=user) < settings.TASTE_RETRAIN_EVERY:
        return None
    if TasteTrainingRun.objects.filter(user=user, status=Status.QUEUED).exists():
        return None  # the queued run reads the labels when it starts
    try:
        return taste_training_request(user=user, trigger=TasteTrainingRun.Trigger.LABELS)
    except ValidationError:
        return None  # only likes (or dislikes) so far: the progress strip says so


# --- training -----------------------------------------------------------------------------


def _claim(run_id: int) -> bool:
    now = timezone.now()
    try:
        with transaction.atomic():
            return bool(
                TasteTrainingRun.objects.filter(pk=run_id, status=Status.QUEUED).update(
                    status=Status.RUNNING, started_at=now, heartbeat_at=now
                )
            )
    except IntegrityError:
        return False  # this member's previous run is still training; it starts this one


def _heartbeat(run: TasteTrainingRun) -> None:
    TasteTrainingRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(
        heartbeat_at=timezone.now()
    )


def _thin(curve: dict, points: int = PR_CURVE_POINTS) -> dict:
    precision, recall = curve.get("precision", []), curve.get("recall", [])
    if len(precision) <= points:
        return {"precision": list(precision), "recall": list(recall)}
    keep = np.unique(np.linspace(0, len(precision) - 1, points).round().astype(int))
    return {
        "precision": [round(float(precision[i]), 4) for i in keep],
        "recall": [round(float(recall[i]), 4) for i in keep],
    }


def _ask_order(user, features, proba: np.ndarray, labeled_rows: np.ndarray) -> np.ndarray:
    """MAL ids the queue should ask about next: a greedy batch of the most teaching
    questions (``variance_order``) among the member's most popular eligible titles."""
    from recommender.ml.active_learning import variance_order

    pool = features.rows_for(taste_ask_pool(user=user, size=settings.TASTE_ASK_POOL))
    pool = pool[pool >= 0]
    if not len(pool):
        return np.empty(0, dtype=np.int64)
    picked = variance_order(
        features.matrix,
        proba,
        labeled_rows,
        pool,
        settings.TASTE_ASK_ORDER,
        pool=len(pool),
    )
    return features.mal_ids[pool[picked]]


def _train(run: TasteTrainingRun) -> None:
    from recommender.ml.taste import NotEnoughLabels, TasteModel, evaluate_cv

    durations: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        durations[stage] = round(now - clock, 3)
        clock = now
        _heartbeat(run)

    version_of_catalog = features_version()
    features = catalog_features_get(version=version_of_catalog)
    lap("features_s")
    mal_ids, y_all, from_list = taste_training_examples(user=run.user)
    rows = features.rows_for(mal_ids)
    known = rows >= 0
    list_mask = np.zeros(len(mal_ids), dtype=bool)
    if from_list:
        # Examples after the queue's answers are the list's (see taste_training_examples).
        list_mask[len(mal_ids) - from_list :] = True
    X, y = features.matrix[rows[known]], y_all[known].astype(np.int64)
    run.n_labels, run.n_pos = len(y), int(y.sum())
    run.n_neg, run.n_from_list = run.n_labels - run.n_pos, int(list_mask[known].sum())
    if not run.n_pos or not run.n_neg:
        raise NotEnoughLabels(NEED_BOTH)
    cv = evaluate_cv(X, y, random_state=0)
    lap("cv_s")
    model = TasteModel(random_state=0).fit(X, y)
    lap("fit_s")
    proba = np.asarray(model.predict_proba(features.matrix), dtype=np.float32)
    explain = model.explain(features.feature_names, top=EXPLAIN_TOP)
    lap("score_s")
    ask_order = _ask_order(run.user, features, proba, rows[known])
    lap("ask_order_s")
    stamp = timezone.now()
    version = f"{stamp:%Y%m%dT%H%M%S}-run{run.pk:08d}"
    metrics = {
        "average_precision": cv.get("average_precision"),
        "roc_auc": cv.get("roc_auc"),
        "base_rate": cv.get("base_rate"),
        "pr_curve": _thin(cv.get("pr_curve") or {}),
        "explain": {
            side: [[str(name), round(float(w), 5)] for name, w in explain.get(side, [])]
            for side in ("up", "down")
        },
    }

    def write(directory: Path) -> None:
        model.save(directory)
        np.save(directory / "proba.npy", proba, allow_pickle=False)

    meta = {
        "user_id": run.user_id,
        "run_id": run.pk,
        "catalog_version": version_of_catalog,
        "labels": run.n_labels,
        "average_precision": metrics["average_precision"],
    }
    artifacts.publish(
        user_artifacts_root(), str(run.user_id), version, features.mal_ids, meta, write
    )
    lap("publish_s")
    with transaction.atomic():
        finished = TasteTrainingRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(
            status=Status.DONE,
            version=version,
            catalog_version=version_of_catalog,
            metrics=metrics,
            durations=durations,
            n_labels=run.n_labels,
            n_pos=run.n_pos,
            n_neg=run.n_neg,
            n_from_list=run.n_from_list,
            finished_at=timezone.now(),
        )
        if finished:  # a reaped run (worker thought lost) must not overwrite newer scores
            # New scores: the member's "taste" list and match percentages change.
            _recommendations_refresh(run.user_id, "taste")
            TasteScores.objects.update_or_create(
                user_id=run.user_id,
                defaults={
                    "run": run,
                    "version": version,
                    "mal_ids": features.mal_ids.astype("<i4").tobytes(),
                    "proba": proba.astype("<f4").tobytes(),
                    "ask_order": ask_order.astype("<i4").tobytes(),
                },
            )


def taste_training_execute(*, run_id: int) -> TasteTrainingRun | None:
    """Train the run's member's model, publish it and store its catalog scores.

    Returns None when the run was not claimed: already taken (a redelivered task), gone,
    superseded, or waiting for the member's previous run to finish.
    """
    from recommender.ml.taste import NotEnoughLabels

    if not _claim(run_id):
        return None
    run = TasteTrainingRun.objects.select_related("user").get(pk=run_id)
    try:
        _train(run)
    except Exception as exc:
        TasteTrainingRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(
            status=Status.FAILED,
            # Not enough labels is the member's state, said plainly; anything else is a bug.
            error=str(exc) if isinstance(exc, NotEnoughLabels) else f"{type(exc).__name__}: {exc}",
            n_labels=run.n_labels,
            n_pos=run.n_pos,
            n_neg=run.n_neg,
            n_from_list=run.n_from_list,
            finished_at=timezone.now(),
        )
        log.warning("taste run %s failed:\n%s", run.pk, traceback.format_exc())
    finally:
        taste_training_start_waiting(user_id=run.user_id)
    run.refresh_from_db()
    return run


def taste_training_start_waiting(*, user_id: int) -> None:
    """Send the member's queued run (if any) to a worker again: its first try may have found
    the previous run still training."""
    from .tasks import train_taste_model_task

    waiting = TasteTrainingRun.objects.filter(user_id=user_id, status=Status.QUEUED).first()
    if waiting is not None:
        transaction.on_commit(lambda: train_taste_model_task.delay(waiting.pk))


def taste_runs_reap(*, stale_seconds: int | None = None) -> int:
    """Fail running runs whose worker stopped beating, and resend their members' queued runs.

    Returns how many runs were failed.
    """
    stale = stale_seconds if stale_seconds is not None else settings.TASTE_RUN_STALE_SECONDS
    cutoff = timezone.now() - timezone.timedelta(seconds=stale)
    lost = TasteTrainingRun.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff)
    users = set(lost.values_list("user_id", flat=True))
    reaped = lost.update(
        status=Status.FAILED,
        error="worker lost: no heartbeat (the run can be requested again)",
        finished_at=timezone.now(),
    )
    # Queued runs whose message was lost (broker restart) are resent the same way.
    forgotten = TasteTrainingRun.objects.filter(status=Status.QUEUED, created_at__lt=cutoff)
    users |= set(forgotten.values_list("user_id", flat=True))
    for user_id in users:
        taste_training_start_waiting(user_id=user_id)
    return reaped


def taste_artifacts_delete(*, user_id: int) -> None:
    """Remove a member's model files (rows go with the user by cascade)."""
    shutil.rmtree(artifacts.engine_dir(user_artifacts_root(), str(user_id)), ignore_errors=True)
