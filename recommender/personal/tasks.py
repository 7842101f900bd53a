"""Celery entry points of members' stored recommendations."""

from __future__ import annotations

from celery import shared_task

from recommender.personal import services


# One member's refresh ranks the catalog once per engine (well under a second each on the
# full catalog) and writes a few hundred rows. The soft limit lets the row be marked
# failed; both limits are far below the broker's visibility timeout (an hour on Redis),
# so late acks never redeliver a live refresh.
@shared_task(name="recommender.refresh_user_recommendations", soft_time_limit=120, time_limit=150)
def refresh_user_recommendations_task(user_id: int) -> str:
    return services.recommendations_refresh_execute(user_id=user_id)


# A batch refreshes its members one after another and hands the rest on after
# RECOMMENDATIONS_REFRESH_BATCH_SECONDS (5 min by default), so it ends well inside these
# limits (one member's own limit is 120 s); both stay below the broker's visibility timeout.
@shared_task(
    name="recommender.refresh_user_recommendations_batch",
    soft_time_limit=20 * 60,
    time_limit=20 * 60 + 60,
)
def refresh_user_recommendations_batch_task(user_ids: list[int]) -> int:
    return services.recommendations_refresh_batch_execute(user_ids=user_ids)


# Name is a contract with CELERY_BEAT_SCHEDULE: never rename.
@shared_task(name="recommender.reap_stale_refreshes")
def reap_stale_refreshes_task() -> dict[str, list[int]]:
    """Periodic: queue again (or fail, after RUN_MAX_ATTEMPTS) refreshes whose worker died."""
    return services.recommendations_refresh_reap()


@shared_task(name="recommender.refresh_all_user_recommendations")
def refresh_all_user_recommendations_task(trigger: str = "retrain") -> int:
    """After an engine retrain: queue (debounced) refreshes for every member, in batches."""
    return services.recommendations_refresh_all(trigger=trigger)
