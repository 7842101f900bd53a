"""Celery entry points of the global engines: thin wrappers around services."""

from __future__ import annotations

import dataclasses
import logging

from celery import shared_task

from animender.runs import RunAlreadyActive
from recommender.engines import services
from recommender.ml.registry import ENGINES

log = logging.getLogger(__name__)

# Full-catalog fits take minutes on 2 cores; an hour means something is wrong, and the
# soft limit lets the run be marked failed instead of being killed mid-write. Names are a
# contract with CELERY_BEAT_SCHEDULE and queued messages: never rename.
TRAIN_SOFT_LIMIT, TRAIN_HARD_LIMIT = 3600, 3900


@shared_task(
    name="recommender.train_engine", soft_time_limit=TRAIN_SOFT_LIMIT, time_limit=TRAIN_HARD_LIMIT
)
def train_engine_task(run_id: int) -> str:
    """Train one queued run; a second delivery of the same message returns at once."""
    return services.training_run_execute(run_id=run_id).state


@shared_task(name="recommender.train_all")
def train_all_task() -> list[int]:
    """Nightly: queue one run per engine (beat calls this); an engine already busy is skipped."""
    queued = []
    for engine in ENGINES:
        try:
            queued.append(services.training_run_enqueue(engine=engine, trigger="schedule").pk)
        except RunAlreadyActive as exc:
            log.info("nightly training of %s skipped: %s", engine, exc)
    return queued


@shared_task(name="recommender.reap_stale_runs")
def reap_stale_runs_task() -> dict[str, list[int]]:
    """Periodic: requeue (or, at the attempt cap, fail) trainings whose worker died and
    resend queued ones whose message was lost."""
    return dataclasses.asdict(services.training_runs_reap_stale())
