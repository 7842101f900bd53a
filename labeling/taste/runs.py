"""Writes of the taste model: the per-member training runs.

A run goes queued -> running -> done | failed (or superseded while queued), by the one
lifecycle of :mod:`animender.runs`. The database allows one queued and one running run per
member; a worker claims a run with one conditional UPDATE, so a redelivered task trains
once, and a run that finds its member's previous run still training leaves its row queued:
the finishing run (or the reaper) starts it.
"""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from dataclasses import asdict
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.selectors import profile_get
from animender import hooks
from animender.hooks import hook_fire
from animender.runs import (
    WORKER_LOST,
    Claim,
    Heartbeat,
    RunKind,
    run_claim,
    run_finish,
    runs_reap,
)
from labeling.models import Label, TasteScores, TasteTrainingRun
from labeling.taste.features import catalog_features_get, features_version, taste_root
from labeling.taste.selectors import (
    NEED_BOTH,
    labels_since_last_run,
    taste_ask_pool,
    taste_example_counts,
    taste_training_examples,
)
from recommender.ml import artifacts

log = logging.getLogger(__name__)

State = TasteTrainingRun.State
PR_CURVE_POINTS = 101
EXPLAIN_TOP = 12


def user_artifacts_root() -> Path:
    return taste_root() / "users"


# --- training requests --------------------------------------------------------------------


def taste_training_request(*, user, trigger: str = TasteTrainingRun.Trigger.MANUAL):
    """Queue a training of ``user``'s model; a run still queued is superseded by this one.

    Raises ``ValidationError`` when the labels cannot train a model yet.
    """
    from labeling.tasks import train_taste_model_task
    from recommender.ml.taste import MIN_LABELS

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
            TasteTrainingRun.objects.filter(user=user, state=State.QUEUED).update(
                state=State.SUPERSEDED,
                finished_at=timezone.now(),
                error="superseded by a newer request",
            )
            run = TasteTrainingRun.objects.create(
                user=user, trigger=trigger, last_label_id=last_label_id
            )
    except IntegrityError:
        # A concurrent request queued one in the same instant; that run will train.
        return TasteTrainingRun.objects.get(user=user, state=State.QUEUED)
    transaction.on_commit(lambda: train_taste_model_task.delay(run.pk))
    return run


def taste_training_request_if_due(*, user) -> TasteTrainingRun | None:
    """Queue a retrain after every TASTE_RETRAIN_EVERY new answers, once both kinds exist."""
    if labels_since_last_run(user=user) < settings.TASTE_RETRAIN_EVERY:
        return None
    if TasteTrainingRun.objects.filter(user=user, state=State.QUEUED).exists():
        return None  # the queued run reads the labels when it starts
    try:
        return taste_training_request(user=user, trigger=TasteTrainingRun.Trigger.LABELS)
    except ValidationError:
        return None  # only likes (or dislikes) so far: the progress strip says so


# --- training -----------------------------------------------------------------------------


def _claim(run_id: int) -> Claim | None:
    try:
        with transaction.atomic():
            return run_claim(TasteTrainingRun, run_id)
    except IntegrityError:
        return None  # this member's previous run is still training; it starts this one


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


def _train(run: TasteTrainingRun, claim: Claim) -> None:
    from recommender.ml.taste import NotEnoughLabels, TasteModel, evaluate_cv

    durations: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        durations[stage] = round(now - clock, 3)
        clock = now

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
        finished = run_finish(
            claim,
            state=State.DONE,
            error="",  # an earlier attempt's "worker lost" is history once one succeeds
            version=version,
            catalog_version=version_of_catalog,
            metrics=metrics,
            durations=durations,
            n_labels=run.n_labels,
            n_pos=run.n_pos,
            n_neg=run.n_neg,
            n_from_list=run.n_from_list,
        )
        if finished:  # a reaped run (worker thought lost) must not overwrite newer scores
            # New scores: the member's "taste" list and match percentages change.
            hook_fire(hooks.MEMBER_INPUTS_CHANGED, user_id=run.user_id, trigger="taste")
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
    superseded, or waiting for the member's previous run to finish; or when the member
    deleted their account while it trained.
    """
    from recommender.ml.taste import NotEnoughLabels

    claim = _claim(run_id)
    if claim is None:
        return None
    run = TasteTrainingRun.objects.select_related("user").get(pk=run_id)
    try:
        with Heartbeat(claim):
            _train(run, claim)
    except Exception as exc:
        # Written only while this attempt still owns the row: after a reap, nothing.
        run_finish(
            claim,
            state=State.FAILED,
            # Not enough labels is the member's state, said plainly; anything else is a bug.
            error=str(exc) if isinstance(exc, NotEnoughLabels) else f"{type(exc).__name__}: {exc}",
            n_labels=run.n_labels,
            n_pos=run.n_pos,
            n_neg=run.n_neg,
            n_from_list=run.n_from_list,
        )
        log.warning("taste run %s failed:\n%s", run.pk, traceback.format_exc())
    finally:
        taste_training_start_waiting(user_id=run.user_id)
        _artifacts_delete_if_member_gone(user_id=run.user_id)
    return TasteTrainingRun.objects.filter(pk=run_id).first()


def _artifacts_delete_if_member_gone(*, user_id: int) -> None:
    """An account deleted while this run trained had its files removed before this run
    published: remove what it wrote. Checked after publishing, so whichever commits first,
    the delete's own cleanup (after its commit) or this check, sees the files and removes
    them."""
    from django.contrib.auth import get_user_model

    if not get_user_model().objects.filter(pk=user_id).exists():
        taste_artifacts_delete(user_id=user_id)


def taste_training_start_waiting(*, user_id: int) -> None:
    """Send the member's queued run (if any) to a worker again: its first try may have found
    the previous run still training."""
    from labeling.tasks import train_taste_model_task

    waiting = TasteTrainingRun.objects.filter(user_id=user_id, state=State.QUEUED).first()
    if waiting is not None:
        transaction.on_commit(lambda: train_taste_model_task.delay(waiting.pk))


def _send(run_id: int) -> None:
    from labeling.tasks import train_taste_model_task

    train_taste_model_task.delay(run_id)


TASTE_RUNS = RunKind(
    name="taste",
    model=TasteTrainingRun,
    send=_send,
    # A run failed for good no longer blocks its member's queued one.
    on_failed=lambda run: taste_training_start_waiting(user_id=run.user_id),
)


def taste_runs_reap() -> dict[str, list[int]]:
    """One reaper pass (beat): silent running runs go back to the queue, or fail for good
    after RUN_MAX_ATTEMPTS; queued runs whose message was lost are sent again.

    A silent run whose member has a newer run queued is superseded instead of queued again
    (one queued run per member; the newer one reads every label): that run is sent.
    Returns the primary keys acted on: requeued, failed, resent, superseded.
    """
    cutoff = timezone.now() - TASTE_RUNS.stale_after()
    silent = TasteTrainingRun.objects.filter(state=State.RUNNING, heartbeat_at__lt=cutoff)
    waiting = TasteTrainingRun.objects.filter(state=State.QUEUED).values("user_id")
    superseded = []
    for run in silent.filter(user_id__in=waiting):
        if silent.filter(pk=run.pk, started_at=run.started_at).update(
            state=State.SUPERSEDED,
            finished_at=timezone.now(),
            error=f"{WORKER_LOST} Superseded by the newer queued run.",
        ):
            superseded.append(run.pk)
            taste_training_start_waiting(user_id=run.user_id)
    return {**asdict(runs_reap(TASTE_RUNS)), "superseded": superseded}


def taste_artifacts_delete(*, user_id: int) -> None:
    """Remove a member's model files (rows go with the user by cascade)."""
    shutil.rmtree(artifacts.engine_dir(user_artifacts_root(), str(user_id)), ignore_errors=True)


def taste_training_after_import(*, user) -> None:
    """An imported list with likes and dislikes gives the member a taste model at once
    (when their profile lets list scores count as labels)."""
    if not profile_get(user=user).labels_from_list:
        return
    try:
        taste_training_request(user=user, trigger=TasteTrainingRun.Trigger.LIST)
    except ValidationError:
        pass  # only likes (or dislikes) so far: the model page says what is missing
