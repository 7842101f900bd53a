from __future__ import annotations

from celery import shared_task

from labeling.taste import runs as services


# One member's fit, CV and catalog scoring take seconds; the first run after a catalog
# change also builds the catalog features (under a minute on the full catalog). The soft
# limit lets the run be marked failed before the hard kill; the broker's visibility
# timeout (an hour on Redis) outlasts both, so late acks never redeliver a live run.
@shared_task(name="labeling.train_taste_model", soft_time_limit=600, time_limit=660)
def train_taste_model_task(run_id: int) -> str:
    run = services.taste_training_execute(run_id=run_id)
    return run.state if run is not None else "not claimed"


# Name is a contract with CELERY_BEAT_SCHEDULE: never rename.
@shared_task(name="labeling.reap_stale_taste_runs")
def reap_stale_taste_runs_task() -> dict[str, list[int]]:
    """Periodic: queue again (or fail, after RUN_MAX_ATTEMPTS) runs whose worker died."""
    return services.taste_runs_reap()
