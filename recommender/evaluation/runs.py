"""The offline evaluation as a platform feature: runs recorded as :class:`EvaluationRun`.

Staff start one from the Engines page or the API (a Celery task, with progress on the
row); ``manage.py evaluate`` records what it measured the same way. The harness itself
is :mod:`recommender.ml.evaluation` (no Django); this module feeds it the community data
and keeps its results.
"""

from __future__ import annotations

import logging
import math
import tempfile
import traceback
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils import timezone

from animender import runs
from recommender.engines.training_data import interactions_frame
from recommender.ml.evaluation import engines as evaluation_engines
from recommender.ml.registry import ENGINES
from recommender.ml.report import evaluate_and_report
from recommender.models import EvaluationRun

log = logging.getLogger(__name__)

COMMUNITY_DATA = "community ratings in the database"


class EvaluationBusyError(RuntimeError):
    """An evaluation is already queued or running."""


class NoEvaluationDataError(ValueError):
    pass


def _clean(value):
    """JSON-safe results: NaN/inf (an engine without a metric) become None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item())
    return value


def _split(results: dict) -> tuple[dict, dict]:
    meta = results.get("meta", {})
    return {k: v for k, v in results.items() if k != "meta"}, meta


def _evaluation_run_send(run_id: int) -> None:
    from recommender.evaluation.tasks import evaluate_engines_task

    evaluate_engines_task.delay(run_id)


EVALUATION_RUNS = runs.RunKind(
    name="evaluation",
    model=EvaluationRun,
    send=_evaluation_run_send,
    # Failed for good: free the one-evaluation slot in the same UPDATE.
    failed_fields={"active": None},
)


def evaluation_runs_reap_stale() -> runs.Reaped:
    """One reaper pass: an evaluation whose worker died is queued again until
    ``RUN_MAX_ATTEMPTS``, then stays failed (and stops blocking the next one)."""
    return runs.runs_reap(EVALUATION_RUNS)


def evaluation_run_enqueue(
    *, requested_by=None, quick: bool = False, engines: list[str] | None = None, trigger="manual"
) -> EvaluationRun:
    """Queue an evaluation of the community data, started after commit on a worker."""
    unknown = set(engines or []) - set(evaluation_engines())
    if unknown:
        raise ValueError(f"unknown engines: {', '.join(sorted(unknown))}")
    try:
        with transaction.atomic():
            run = EvaluationRun.objects.create(
                requested_by=requested_by,
                trigger=trigger,
                quick=quick,
                engines=list(engines or []),
                data_source=COMMUNITY_DATA,
            )
    except IntegrityError:
        raise EvaluationBusyError("an evaluation is already queued or running") from None
    transaction.on_commit(lambda: _evaluation_run_send(run.pk))
    return run


def _progress_writer(claim: runs.Claim):
    def write(done: int, total: int, step: str) -> None:
        runs.run_update(claim, steps_done=done, steps_total=total, current_step=step[:100])

    return write


def evaluation_run_execute(*, run_id: int) -> EvaluationRun | None:
    """Run a queued evaluation; safe to receive twice (only the first claim runs).

    Every write after the claim is conditional on still owning it: a worker that was only
    slow, whose row the reaper has since requeued or failed, changes nothing.
    """
    claim = runs.run_claim(EvaluationRun, run_id)
    if claim is None:
        return EvaluationRun.objects.filter(pk=run_id).first()
    run = EvaluationRun.objects.get(pk=run_id)
    try:
        with runs.Heartbeat(claim):
            results = _evaluate(run, claim)
    except Exception as exc:
        log.error("evaluation run %s failed:\n%s", run.pk, traceback.format_exc())
        if not runs.run_finish(
            claim,
            state=EvaluationRun.State.FAILED,
            active=None,
            error=f"{type(exc).__name__}: {exc}"[:2000],
        ):
            log.warning("evaluation run %s failed after it was reaped: %s", run.pk, exc)
        run.refresh_from_db()
        return run
    metrics, meta = _split(_clean(results))
    meta.pop("data_dir", None)  # a temporary folder, meaningless afterwards
    if not runs.run_finish(
        claim,
        state=EvaluationRun.State.DONE,
        active=None,
        results=metrics,
        meta=meta,
        error="",
    ):
        log.warning("evaluation run %s finished after it was reaped: results dropped", run.pk)
    run.refresh_from_db()
    return run


def _evaluate(run: EvaluationRun, claim: runs.Claim) -> dict:
    frame = interactions_frame()
    if frame.empty:
        raise NoEvaluationDataError(
            "no community ratings to evaluate on: run manage.py import_ratings first"
        )
    with tempfile.TemporaryDirectory(prefix="animender-eval-") as tmp:
        # The harness reads files in fresh worker processes: export the rows once.
        frame.to_csv(Path(tmp) / "ratings.csv", index=False)
        with open(Path(tmp) / "table.txt", "w") as out:
            return evaluate_and_report(
                Path(tmp),
                None,
                quick=run.quick,
                only=run.engines or None,
                out=out,
                log=out,
                progress=_progress_writer(claim),
            )


def evaluation_run_record(
    *, results: dict, data_source: str, quick: bool, engines: list[str] | None, trigger: str
) -> EvaluationRun:
    """Keep an evaluation measured elsewhere (``manage.py evaluate``) as a finished run."""
    metrics, meta = _split(_clean(results))
    now = timezone.now()
    return EvaluationRun.objects.create(
        state=EvaluationRun.State.DONE,
        active=None,
        trigger=trigger,
        quick=quick,
        engines=list(engines or []),
        data_source=data_source[:300],
        steps_done=1,
        steps_total=1,
        current_step="done",
        results=metrics,
        meta=meta,
        started_at=now,
        finished_at=now,
    )


# -- reads for the Engines page and the API ------------------------------------------------

# Plain words for every engine and baseline of the harness.
ENGINE_DESCRIPTIONS = {
    "popularity": "Most-watched titles first, the same for everyone (baseline).",
    "ease": "EASE: a closed-form item-item linear model (strong baseline).",
    "als": "Implicit ALS matrix factorisation (baseline).",
    "surprise_baselineonly": "User and title biases only (Surprise; baseline).",
    "surprise_svd": "Funk SVD on scores (Surprise; baseline).",
    "surprise_knnbaseline": "Surprise's KNNBaseline, the reference for our item KNN.",
    # Served engines describe themselves in the registry.
    **{name: spec.description for name, spec in ENGINES.items() if spec.description},
    "watchlist_nn_wide": "The watch-list network plus a full item-item path.",
}
# (key, label, format, higher is better) of the table's columns.
EVALUATION_COLUMNS = (
    ("ndcg@10", "NDCG@10", "{:.3f}", True),
    ("recall@10", "Recall@10", "{:.3f}", True),
    ("recall@20", "Recall@20", "{:.3f}", True),
    ("coverage@10", "Coverage@10", "{:.1%}", True),
    ("ms_per_user", "ms / user", "{:.2f}", False),
    ("fit_s", "Fit (s)", "{:.1f}", False),
    ("rating_rmse", "RMSE", "{:.3f}", False),
)
_PLOT_WIDTH, _PLOT_BAR_HEIGHT, _PLOT_LABEL_WIDTH = 640, 26, 180


def evaluation_run_latest() -> EvaluationRun | None:
    return EvaluationRun.objects.filter(state=EvaluationRun.State.DONE).first()


def evaluation_run_active() -> EvaluationRun | None:
    return EvaluationRun.objects.filter(active=True).first()


def evaluation_report(run: EvaluationRun, *, served: frozenset[str]) -> dict:
    """Table rows (best value per column marked) and NDCG@10 bars of a finished run."""
    names = sorted(
        run.results,
        key=lambda n: -(run.results[n].get("ndcg@10") or 0.0),
    )
    best = {}
    for key, _, _, higher in EVALUATION_COLUMNS:
        values = [run.results[n].get(key) for n in names]
        values = [v for v in values if isinstance(v, int | float)]
        if values:
            best[key] = max(values) if higher else min(values)
    rows = []
    for name in names:
        metrics = run.results[name]
        cells = []
        for key, _, fmt, _ in EVALUATION_COLUMNS:
            value = metrics.get(key)
            number = isinstance(value, int | float)
            cells.append(
                {
                    "text": fmt.format(value) if number else "–",
                    "best": number and value == best.get(key),
                }
            )
        rows.append(
            {
                "name": name,
                "description": ENGINE_DESCRIPTIONS.get(name, ""),
                "served": name in served,
                "cells": cells,
            }
        )
    scored = [(n, run.results[n]["ndcg@10"]) for n in names if run.results[n].get("ndcg@10")]
    top = max((v for _, v in scored), default=1.0) or 1.0
    room = _PLOT_WIDTH - _PLOT_LABEL_WIDTH - 60
    bars = [
        {
            "name": n,
            "value": f"{v:.3f}",
            "y": i * _PLOT_BAR_HEIGHT,
            "text_y": i * _PLOT_BAR_HEIGHT + _PLOT_BAR_HEIGHT * 0.62,
            "width": max(round(room * v / top, 1), 1),
            "value_x": _PLOT_LABEL_WIDTH + round(room * v / top, 1) + 6,
            "served": n in served,
        }
        for i, (n, v) in enumerate(scored)
    ]
    meta = run.meta or {}
    split = meta.get("topn_split") or {}
    return {
        "columns": [label for _, label, _, _ in EVALUATION_COLUMNS],
        "rows": rows,
        "bars": bars,
        "plot": {
            "width": _PLOT_WIDTH,
            "height": max(len(bars), 1) * _PLOT_BAR_HEIGHT + 4,
            "label_width": _PLOT_LABEL_WIDTH,
            "bar_height": _PLOT_BAR_HEIGHT - 8,
        },
        "data": {
            "users": meta.get("n_users"),
            "titles": meta.get("n_items"),
            "rows": meta.get("n_rows"),
            "test_users": split.get("n_test_users"),
            "held_out": split.get("n_held_out"),
            "sample_users": meta.get("topn_sample_users"),
            "seconds": meta.get("total_s"),
        },
    }
