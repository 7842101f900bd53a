from __future__ import annotations

from celery import shared_task

from . import services
from .ml.registry import ENGINES


# Full-catalog fits take minutes on 2 cores; an hour means something is wrong, and the
# soft limit lets the run be marked failed instead of being killed mid-write.
@shared_task(name="recommender.train_engine", soft_time_limit=3600, time_limit=3900)
def train_engine_task(run_id: int) -> str:
    return services.training_run_execute(run_id=run_id).state


@shared_task(name="recommender.train_all")
def train_all_task() -> list[int]:
    """Nightly: queue one run per engine (beat calls this)."""
    return [services.training_run_enqueue(engine=e, trigger="schedule").pk for e in ENGINES]
