"""Celery entry points of the catalog: thin wrappers around services."""

from __future__ import annotations

import dataclasses
import logging

from celery import shared_task

from animender.runs import RunAlreadyActive

from .sync import catalog_sync, sync_runs_reap_stale

log = logging.getLogger(__name__)


# Name is a contract with CELERY_BEAT_SCHEDULE and any queued messages: never rename.
# Limits: a full walk is ~60 pages at ~1 req/s plus backoff; 1 h means MAL is throttling
# us hard, so stop (the soft limit fails the run, resumable) rather than hold a worker.
@shared_task(
    bind=True, name="catalog.sync_catalog", soft_time_limit=60 * 60, time_limit=60 * 60 + 120
)
def sync_catalog_task(self, mode: str = "full", run_id: int | None = None) -> int | None:
    """Sync ``mode``; skipped with a log line while another sync of ``mode`` runs.

    ``run_id``: the reaper's resend of a sync whose worker died (its mode is on the row).
    """
    try:
        run = catalog_sync(mode=mode, task_id=self.request.id or "", run_id=run_id)
    except RunAlreadyActive as exc:
        log.info("catalog %s sync skipped: %s", mode, exc)
        return None
    return run.pk if run is not None else None


@shared_task(name="catalog.reap_stale_runs")
def reap_stale_syncs_task() -> dict[str, list[int]]:
    """Periodic: queue again (or, at the attempt cap, fail) syncs whose worker died."""
    return dataclasses.asdict(sync_runs_reap_stale())


# Name is a contract with CELERY_BEAT_SCHEDULE. One details request per title at ~1 req/s:
# a batch of MAL_RELATIONS_BATCH (600) takes ~10-12 min; the limit leaves room for backoff.
@shared_task(name="catalog.sync_relations", soft_time_limit=30 * 60, time_limit=30 * 60 + 120)
def sync_relations_task(limit: int | None = None) -> dict:
    from django.conf import settings

    from .relations_sync import relations_sync

    result = relations_sync(limit=limit or settings.MAL_RELATIONS_BATCH)
    return {"titles": result.titles, "remaining": result.remaining, "error": result.error}
