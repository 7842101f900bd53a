"""Celery entry points of accounts: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task

from . import imports


# Name is a contract with queued messages: never rename. A 1,000-entry list is one MAL page
# plus up to LIST_IMPORT_MAX_DETAIL_FETCHES detail calls at ~1/s; 30 min means MAL is
# throttling us hard, and the soft limit lets the row be marked failed, not left running.
@shared_task(name="accounts.import_list", soft_time_limit=30 * 60, time_limit=30 * 60 + 60)
def import_list_task(run_id: int) -> str:
    run = imports.import_run_execute(run_id=run_id)
    return run.state if run else "gone"


# Name is a contract with CELERY_BEAT_SCHEDULE: never rename.
@shared_task(name="accounts.reap_stale_imports")
def reap_stale_imports_task() -> dict[str, list[int]]:
    """Periodic: queue again (or fail, after RUN_MAX_ATTEMPTS) imports whose worker died."""
    return imports.import_runs_reap()
