"""The catalog sync from MyAnimeList: walk list endpoints page by page, upsert, checkpoint.

Each page is written in one transaction together with the run's checkpoint (endpoint,
params, next offset, counts), so a run that dies anywhere leaves the catalog consistent
and the next run (``resume=True``) continues at exactly the page that was not committed.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date

from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError, transaction
from django.utils import timezone

from animender import runs

from .mal_client import MalClient, Page
from .models import SyncRun
from .records import SEASONS
from .services import anime_upsert_many

logger = logging.getLogger(__name__)

# Failures that pass: the run is resumable. MalError subclasses say it themselves
# (``retryable``: 429, 5xx, timeouts, resets); a 400/404 or a bad payload is not.
_PASSING_FAILURES = (SoftTimeLimitExceeded, KeyboardInterrupt, OperationalError)


def _is_retryable(exc: BaseException) -> bool:
    return bool(getattr(exc, "retryable", False)) or isinstance(exc, _PASSING_FAILURES)


def season_of(day: date) -> tuple[int, str]:
    return day.year, SEASONS[(day.month - 1) // 3]


def _shift_season(year: int, season: str, delta: int) -> tuple[int, str]:
    index = year * 4 + SEASONS.index(season) + delta
    return index // 4, SEASONS[index % 4]


def sync_plan(*, mode: str, today: date) -> list[dict]:
    """The endpoints a run walks, in order, as checkpoint entries {endpoint, params}."""
    if mode == SyncRun.Mode.FULL:
        return [{"endpoint": "anime/ranking", "params": {"ranking_type": "all"}}]
    if mode == SyncRun.Mode.SEASONAL:
        # Current first (changes most), then the previous (late updates, carry-overs) and
        # the next (announcements).
        current = season_of(today)
        seasons = [current, _shift_season(*current, -1), _shift_season(*current, 1)]
        return [
            {"endpoint": f"anime/season/{y}/{s}", "params": {"sort": "anime_num_list_users"}}
            for y, s in seasons
        ]
    raise ValueError(f"unknown sync mode {mode!r} (use 'full' or 'seasonal')")


def _sync_run_send(run_id: int) -> None:
    from .tasks import sync_catalog_task

    sync_catalog_task.delay(run_id=run_id)


# A sync whose worker died is queued again on the same row: its committed checkpoint is
# where the next attempt continues, and its attempts count every worker that died on it.
SYNC_RUNS = runs.RunKind(name="sync", model=SyncRun, send=_sync_run_send)


def sync_runs_reap_stale(*, mode: str | None = None) -> runs.Reaped:
    """One reaper pass: a silent sync is queued again (same row, same checkpoint) until
    ``RUN_MAX_ATTEMPTS``, then stays failed; a queued one whose message was lost is resent."""
    kind = SYNC_RUNS if mode is None else replace(SYNC_RUNS, scope={"mode": mode})
    return runs.runs_reap(kind)


def _resumable(mode: str, plan: list[dict]) -> SyncRun | None:
    """The latest finished run of ``mode`` if it failed for a passing reason on ``plan``."""
    last = (
        SyncRun.objects.filter(mode=mode)
        .exclude(state__in=runs.ACTIVE_STATES)
        .order_by("-created_at", "-pk")
        .first()
    )
    if last is None or last.state != SyncRun.State.FAILED or not last.endpoint:
        return None
    if not last.retryable:
        # A 400/404 or a bad payload: retrying the same page fails the same way. A run
        # whose worker died on every attempt is not retryable either (the reaper gave up).
        return None
    if last.plan != plan:
        return None  # planned for another season: today's plan starts fresh
    return last


def _take_over(mode: str) -> runs.Claim | None:
    """Claim a sync of ``mode`` that waits in the queue (requeued after its worker died, or
    its message lost), after requeueing one whose worker went silent: a start from the
    command line continues it here instead of being refused until beat's reaper runs."""
    runs.runs_reap(replace(SYNC_RUNS, scope={"mode": mode}, send=lambda pk: None))
    waiting = SyncRun.objects.filter(mode=mode, state=SyncRun.State.QUEUED).order_by("pk")
    for pk in waiting.values_list("pk", flat=True):
        claim = runs.run_claim(SyncRun, pk)
        if claim is not None:
            logger.info("catalog %s sync continues queued run #%s", mode, pk)
            return claim
    return None


def sync_run_start(*, mode: str, resume: bool, today: date, task_id: str = "") -> runs.Claim:
    """Claim a sync of ``mode``: a queued one (when resuming), else a new row continuing
    the latest resumable run of ``mode``, or a fresh plan.

    Raises :class:`animender.runs.RunAlreadyActive` while another sync of ``mode`` runs.
    """
    plan = sync_plan(mode=mode, today=today)
    if resume and (claim := _take_over(mode)) is not None:
        return claim
    previous = _resumable(mode, plan) if resume else None
    start = (
        dict(
            endpoint=previous.endpoint,
            params=previous.params,
            next_offset=previous.next_offset,
            pending=previous.pending,
            resumed_from=previous,
        )
        if previous is not None
        else dict(
            endpoint=plan[0]["endpoint"], params=plan[0]["params"], next_offset=0, pending=plan[1:]
        )
    )
    run = runs.run_create_exclusive(
        SyncRun,
        active_filter={"mode": mode},
        describe=f"A {mode} catalog sync",
        mode=mode,
        plan=plan,
        task_id=task_id,
        **start,
    )
    claim = runs.run_claim(SyncRun, run.pk)
    if claim is None:  # taken over by a concurrent start between create and claim
        raise runs.RunAlreadyActive(f"A {mode} catalog sync is already running (#{run.pk}).", run)
    return claim


class _ClaimLost(Exception):
    """The reaper took the run back from this (slow) worker: stop without writing."""


_END = object()


def _prefetched(pages: Iterator[Page], *, client: MalClient) -> Iterator[Page]:
    """Fetch page n+1 while page n is written.

    Requests stay strictly one at a time (one thread walks the generator in order); only
    the wait on MAL (and its throttling pause) overlaps with the database writes. An error
    raised while fetching surfaces at the page where it happened, after the pages before
    it were committed, exactly as without prefetching. When the consumer stops early (its
    run failed), the client is cancelled: a backoff sleep in flight wakes at once and no
    further request is made.
    """
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put(page):
                    return
            put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)
        finally:
            pages.close()

    worker = threading.Thread(target=produce, name="mal-prefetch", daemon=True)
    worker.start()
    finished = False
    try:
        while (item := handoff.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
        finished = True
    finally:
        stop.set()
        if not finished:
            client.cancel()
        worker.join(timeout=5)


def _advance(run: SyncRun, page: Page) -> None:
    """Move the checkpoint past ``page``: its next offset, else the next pending endpoint."""
    if page.next_offset is not None:
        run.next_offset = page.next_offset
    elif run.pending:
        step, *run.pending = run.pending
        run.endpoint, run.params, run.next_offset = step["endpoint"], step["params"], 0
    else:
        run.endpoint, run.params, run.next_offset = "", {}, 0


def catalog_sync(
    *,
    mode: str = SyncRun.Mode.FULL,
    client: MalClient | None = None,
    progress: Callable[[int], None] | None = None,
    resume: bool = True,
    today: date | None = None,
    task_id: str = "",
    run_id: int | None = None,
) -> SyncRun | None:
    """Sync the catalog from MAL; returns the finished run.

    ``full`` walks the all-titles ranking; ``seasonal`` the current, previous and next
    season. ``progress(n)`` gets the number of titles written after each page.
    On failure the run is saved as failed with the error (resumable) and the
    :class:`MalError` (or other exception) is re-raised.
    Config errors (no client id) raise before a run row is created; so does
    :class:`animender.runs.RunAlreadyActive` when a sync of ``mode`` already runs.
    ``task_id`` (the Celery message id): a message delivered again returns the run it
    already started instead of syncing twice. ``run_id`` (the reaper's resend of a run
    whose worker died): claim that queued row and continue at its checkpoint; None back
    when it is gone, and the row as it is when another worker has it.
    """
    if run_id is None and task_id:
        done_before = SyncRun.objects.filter(task_id=task_id).first()
        if done_before is not None:
            logger.info("sync message %s delivered again: run #%s has it", task_id, done_before.pk)
            return done_before
    owns_client = client is None
    client = client or MalClient.from_settings()
    client.begin_run()
    try:
        if run_id is not None:
            claim = runs.run_claim(SyncRun, run_id)
            if claim is None:
                logger.info("sync run #%s is not queued: another delivery has it", run_id)
                if owns_client:
                    client.close()
                return SyncRun.objects.filter(pk=run_id).first()
        else:
            claim = sync_run_start(
                mode=mode, resume=resume, today=today or timezone.localdate(), task_id=task_id
            )
    except BaseException:
        if owns_client:
            client.close()
        raise
    run = SyncRun.objects.get(pk=claim.pk)
    mode = run.mode
    # Requests of earlier attempts on this row count too.
    requests_before = client.requests_made - run.requests
    seen: set[int] = set()  # ranking order shifts between pages: never write a title twice
    try:
        with runs.Heartbeat(claim):
            _walk(claim, run, client, seen, requests_before, progress)
    except _ClaimLost:
        logger.warning("catalog sync #%s was reaped while this worker ran: stopped", run.pk)
        run.refresh_from_db()
        return run
    except BaseException as exc:
        # Only the failure fields: the in-memory checkpoint may be ahead of what committed.
        runs.run_finish(
            claim,
            state=SyncRun.State.FAILED,
            requests=client.requests_made - requests_before,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            retryable=_is_retryable(exc),
        )
        run.refresh_from_db()
        where = f"{run.endpoint} offset {run.next_offset}"
        logger.warning("catalog sync #%s (%s) failed at %s: %s", run.pk, mode, where, exc)
        raise
    finally:
        if owns_client:
            client.close()
    if not runs.run_finish(
        claim, state=SyncRun.State.DONE, requests=client.requests_made - requests_before, error=""
    ):
        logger.warning("catalog sync #%s finished after it was reaped", run.pk)
    run.refresh_from_db()
    return run


_CHECKPOINT_FIELDS = (
    "endpoint",
    "params",
    "next_offset",
    "pending",
    "pages",
    "requests",
    "titles_created",
    "titles_updated",
)


def _walk(
    claim: runs.Claim,
    run: SyncRun,
    client: MalClient,
    seen: set[int],
    requests_before: int,
    progress,
) -> None:
    """Every page of the run's remaining plan, each committed with its checkpoint, and only
    while this attempt still owns the row (else the page rolls back and the walk stops)."""
    while run.endpoint:
        pages = client.pages(run.endpoint, run.params, offset=run.next_offset)
        for page in _prefetched(pages, client=client):
            fresh = [r for r in page.records if r.mal_id not in seen]
            seen.update(r.mal_id for r in fresh)
            with transaction.atomic():
                # A write first: it takes the run's row (and on SQLite the write lock)
                # before any read, so a heartbeat committed meanwhile cannot make this
                # transaction's later write fail with "database is locked"; and a run the
                # reaper took back stops here, before upserting anything.
                if not runs.run_update(claim, heartbeat_at=timezone.now()):
                    raise _ClaimLost(run.pk)
                counts = anime_upsert_many(records=fresh)
                _advance(run, page)
                run.pages += 1
                run.requests = client.requests_made - requests_before
                run.titles_created += counts.created
                run.titles_updated += counts.updated
                runs.run_update(claim, **{name: getattr(run, name) for name in _CHECKPOINT_FIELDS})
            if progress:
                progress(len(fresh))
