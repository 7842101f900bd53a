"""Training global engines on community data (the recommender's writes).

``recommender.ml`` holds the models (no Django); this module builds their input from the
database, records each :class:`TrainingRun` and publishes versioned artifacts. Serving
(top-N for any list) is a read and lives in :mod:`recommender.engines.selectors`.
"""

from __future__ import annotations

import importlib.metadata
import logging
import shutil
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import scipy.sparse as sp
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from animender import hooks, runs
from animender.hooks import hook_fire
from animender.score_rules import preference_rule
from recommender.engines.selectors import engine_spec
from recommender.engines.training_data import interactions_frame
from recommender.ml import artifacts, fit_process
from recommender.ml.data import Ratings, ratings_from_frame
from recommender.models import TrainingRun

log = logging.getLogger(__name__)


def _training_matrix(ratings: Ratings, kind: str) -> tuple[Ratings, sp.csr_matrix]:
    if kind == "explicit":
        ratings = ratings.explicit()
        return ratings, ratings.matrix("score")
    if kind == "scored":
        return ratings, ratings.matrix("score")  # 1-10, and -1 where unscored
    return ratings, ratings.matrix("binary")


def _versions() -> dict[str, str]:
    names = ["numpy", "scipy", "torch", "scikit-learn"]
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def training_run_create(
    *, engine: str, requested_by=None, trigger: str = "manual", params: dict | None = None
) -> TrainingRun:
    """A queued run; :class:`animender.runs.RunAlreadyActive` if the engine has one already."""
    engine_spec(engine)
    return runs.run_create_exclusive(
        TrainingRun,
        active_filter={"engine": engine},
        describe=f"A training of {engine}",
        engine=engine,
        requested_by=requested_by,
        trigger=trigger,
        params=params or {},
    )


def training_run_enqueue(
    *, engine: str, requested_by=None, trigger: str = "manual", params: dict | None = None
) -> TrainingRun:
    """Record a queued run and start it after commit (a worker, or in-process when eager).

    Raises :class:`animender.runs.RunAlreadyActive` while another run of ``engine`` is
    queued or running.
    """
    from recommender.engines.tasks import train_engine_task

    run = training_run_create(
        engine=engine, requested_by=requested_by, trigger=trigger, params=params
    )
    transaction.on_commit(lambda: train_engine_task.delay(run.pk))
    return run


def training_run_execute(*, run_id: int) -> TrainingRun:
    """Fit the run's engine on the current data and publish it as the serving version.

    Safe to call twice for one run (a redelivered message, a resend by the reaper): only
    the caller that claims the queued row trains; any other returns the row as it is. A
    worker that was only slow, whose row the reaper has since requeued or failed, writes
    nothing when it finishes.
    """
    claim = runs.run_claim(TrainingRun, run_id)
    if claim is None:
        run = TrainingRun.objects.get(pk=run_id)
        log.info("training run %s is %s, not queued: another delivery has it", run_id, run.state)
        return run
    run = TrainingRun.objects.get(pk=run_id)
    spec = engine_spec(run.engine)
    try:
        with runs.Heartbeat(claim):
            version, metrics = _train_and_publish(run, spec)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if fit_process.is_allocation_failure(exc) and not isinstance(
            exc, fit_process.FitOutOfMemory
        ):
            error = f"Out of memory while training in the worker: {error}"
        if not runs.run_finish(claim, state=TrainingRun.State.FAILED, error=error):
            log.warning("training run %s failed after it was reaped: %s", run.pk, error)
        log.error("training run %s failed:\n%s", run.pk, traceback.format_exc())
    else:
        if not runs.run_finish(
            claim, state=TrainingRun.State.DONE, version=version, metrics=metrics, error=""
        ):
            # The files are published (serving picks the newest version), but the row is
            # the reaper's now (requeued or failed): it is not rewritten.
            log.warning("training run %s finished after it was reaped; %s serves", run.pk, version)
        # A new version ranks differently: every member's stored recommendations refresh.
        transaction.on_commit(lambda: hook_fire(hooks.ENGINE_PUBLISHED, engine=run.engine))
    run.refresh_from_db()
    return run


def _train_and_publish(run: TrainingRun, spec) -> tuple[str, dict]:
    frame = interactions_frame()
    if frame.empty:
        raise ValueError(
            "no training data: import community ratings first (manage.py import_ratings)"
        )
    ratings, matrix = _training_matrix(ratings_from_frame(frame), spec.matrix)
    del frame  # the fit's peak is what matters at 45M rows: keep one copy of the data
    params = {
        **spec.defaults,
        # The like / dislike rule it learns by: recorded in the version's params.
        **(preference_rule().as_params() if spec.reads_preferences else {}),
        **settings.RECOMMENDER_ENGINE_PARAMS.get(run.engine, {}),
        **run.params,
    }
    version = f"{timezone.now():%Y%m%dT%H%M%S}-run{run.pk}"
    # Staged beside the versions (a dot name: never served nor pruned), so publishing
    # moves the child's files instead of copying a 1 GB model.
    staging = artifacts.engine_dir(settings.MODEL_DIR, run.engine) / f".fit-{version}"
    try:
        fitted, write_model = _fit(run.engine, spec, params, matrix, staging)
        metrics = {
            **fitted,
            "fit_seconds": round(fitted["fit_seconds"], 3),
            "users": int(ratings.n_users),
            "items": int(ratings.n_items),
            "interactions": int(matrix.nnz),
        }
        artifacts.publish(
            settings.MODEL_DIR,
            run.engine,
            version,
            ratings.item_ids,
            {"engine": run.engine, "params": params, "metrics": metrics, "libraries": _versions()},
            write_model,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return version, metrics


def _fit(
    engine: str, spec, params: dict, matrix: sp.csr_matrix, staging: Path
) -> tuple[dict, Callable[[Path], None]]:
    """Fit; returns ``fit_seconds`` (and the child's ``peak_rss_mb``, ``data_mb``) and
    what writes the model into a version's folder.

    With ``TRAINING_MEMORY_LIMIT_MB`` the fit runs in a child process under that cap
    (:mod:`recommender.ml.fit_process`): running out of memory fails the run with a
    clear error instead of getting this worker killed.
    """
    limit_mb = settings.TRAINING_MEMORY_LIMIT_MB
    if limit_mb:
        fitted = fit_process.fit_in_subprocess(
            engine=engine, params=params, matrix=matrix, job_dir=staging, memory_limit_mb=limit_mb
        )
        return fitted, lambda directory: _move_into(staging / "model", directory)
    started = time.perf_counter()
    model = spec.factory(**params).fit(matrix)
    fitted = {"fit_seconds": time.perf_counter() - started}
    return fitted, lambda directory: spec.saver(model, directory)


def _move_into(source: Path, directory: Path) -> None:
    for path in source.iterdir():
        path.rename(directory / path.name)


def _training_run_send(run_id: int) -> None:
    from recommender.engines.tasks import train_engine_task

    train_engine_task.delay(run_id)


TRAINING_RUNS = runs.RunKind(name="training", model=TrainingRun, send=_training_run_send)


def training_runs_reap_stale() -> runs.Reaped:
    """One reaper pass: a run whose worker died is queued again (same row, its attempt
    counted) until ``RUN_MAX_ATTEMPTS``, then stays failed; a queued run whose message was
    lost is sent again."""
    return runs.runs_reap(TRAINING_RUNS)
