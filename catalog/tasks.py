"""Celery entry points of the catalog: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task

from .sync import catalog_sync


# Name is a contract with CELERY_BEAT_SCHEDULE and any queued messages: never rename.
# Limits: a full walk is ~60 pages at ~1 req/s plus backoff; 1 h means MAL is throttling
# us hard, so stop (the soft limit fails the run, resumable) rather than hold a worker.
@shared_task(name="catalog.sync_catalog", soft_time_limit=60 * 60, time_limit=60 * 60 + 120)
def sync_catalog_task(mode: str = "full") -> int:
    return catalog_sync(mode=mode).pk
