"""Celery entry point of offline evaluation runs."""

from __future__ import annotations

import dataclasses

from celery import shared_task

from recommender.evaluation.runs import evaluation_run_execute, evaluation_runs_reap_stale


# A full evaluation fits every engine and baseline (Surprise's included) on the whole
# community data: tens of minutes on 2 cores. The soft limit marks the run failed.
@shared_task(
    name="recommender.evaluate_engines", soft_time_limit=2 * 3600, time_limit=2 * 3600 + 300
)
def evaluate_engines_task(run_id: int) -> str | None:
    run = evaluation_run_execute(run_id=run_id)
    return run.state if run else None


# Name is a contract with CELERY_BEAT_SCHEDULE: never rename.
@shared_task(name="recommender.reap_stale_evaluations")
def reap_stale_evaluations_task() -> dict[str, list[int]]:
    """Periodic: requeue (or, at the attempt cap, fail) evaluations whose worker died."""
    return dataclasses.asdict(evaluation_runs_reap_stale())
