"""Celery entry points of the recommender: thin wrappers around services."""

from __future__ import annotations

import logging

from celery import shared_task

from animender.runs import RunAlreadyActive

from . import services
from .ml.registry import ENGINES

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
def reap_stale_runs_task() -> list[int]:
    """Periodic: fail runs whose worker died and queue their replacements."""
    return [run.pk for run in services.training_runs_reap_stale()]


# A full evaluation fits every engine and baseline (Surprise's included) on the whole
# community data: tens of minutes on 2 cores. The soft limit marks the run failed.
@shared_task(
    name="recommender.evaluate_engines", soft_time_limit=2 * 3600, time_limit=2 * 3600 + 300
)
def evaluate_engines_task(run_id: int) -> str | None:
    from .evaluation_runs import evaluation_run_execute

    run = evaluation_run_execute(run_id=run_id)
    return run.state if run else None


# One member's refresh ranks the catalog once per engine (well under a second each on the
# full catalog) and writes a few hundred rows. The soft limit lets the row be marked
# failed; both limits are far below the broker's visibility timeout (an hour on Redis),
# so late acks never redeliver a live refresh.
@shared_task(name="recommender.refresh_user_recommendations", soft_time_limit=120, time_limit=150)
def refresh_user_recommendations_task(user_id: int) -> str:
    from .personal_services import recommendations_refresh_execute

    return recommendations_refresh_execute(user_id=user_id)


@shared_task(name="recommender.refresh_all_user_recommendations")
def refresh_all_user_recommendations_task(trigger: str = "retrain") -> int:
    """After an engine retrain: queue a (debounced) refresh for every member."""
    from .personal_services import recommendations_refresh_all

    return recommendations_refresh_all(trigger=trigger)
