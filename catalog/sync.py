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
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from .mal_client import MalClient, Page
from .models import SyncRun
from .services import anime_upsert_many

logger = logging.getLogger(__name__)

SEASONS = ("winter", "spring", "summer", "fall")
# A "running" row older than this belongs to a worker that died (the task's hard limit is
# lower), so it is failed and resumable instead of blocking resumption forever.
STALE_RUN_AFTER = timedelta(hours=2)


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


def _fail_stale_runs(*, mode: str) -> None:
    cutoff = timezone.now() - STALE_RUN_AFTER
    SyncRun.objects.filter(mode=mode, state=SyncRun.State.RUNNING, started_at__lt=cutoff).update(
        state=SyncRun.State.FAILED,
        finished_at=timezone.now(),
        error="Abandoned: still 'running' long after the task time limit (worker died?).",
    )


def sync_run_start(*, mode: str, resume: bool, today: date) -> SyncRun:
    """A new run row: continuing the latest failed run of ``mode``, or a fresh plan."""
    plan = sync_plan(mode=mode, today=today)
    _fail_stale_runs(mode=mode)
    previous = None
    if resume:
        last = (
            SyncRun.objects.filter(mode=mode)
            .exclude(state=SyncRun.State.RUNNING)
            .order_by("-started_at", "-pk")
            .first()
        )
        if last is not None and last.state == SyncRun.State.FAILED and last.endpoint:
            previous = last
    if previous is not None:
        return SyncRun.objects.create(
            mode=mode,
            endpoint=previous.endpoint,
            params=previous.params,
            next_offset=previous.next_offset,
            pending=previous.pending,
            resumed_from=previous,
        )
    return SyncRun.objects.create(
        mode=mode,
        endpoint=plan[0]["endpoint"],
        params=plan[0]["params"],
        next_offset=0,
        pending=plan[1:],
    )


_END = object()


def _prefetched(pages: Iterator[Page]) -> Iterator[Page]:
    """Fetch page n+1 while page n is written.

    Requests stay strictly one at a time (one thread walks the generator in order); only
    the wait on MAL (and its throttling pause) overlaps with the database writes. An error
    raised while fetching surfaces at the page where it happened, after the pages before
    it were committed, exactly as without prefetching.
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
    try:
        while (item := handoff.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        # A fetch in flight may be sleeping through a backoff: don't wait for it for long.
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
) -> SyncRun:
    """Sync the catalog from MAL; returns the finished run.

    ``full`` walks the all-titles ranking; ``seasonal`` the current, previous and next
    season. ``progress(n)`` gets the number of titles written after each page.
    On failure the run is saved as failed with the error (resumable) and the
    :class:`MalError` (or other exception) is re-raised.
    Config errors (no client id) raise before a run row is created.
    """
    owns_client = client is None
    client = client or MalClient.from_settings()
    client.begin_run()
    run = sync_run_start(mode=mode, resume=resume, today=today or timezone.localdate())
    requests_before = client.requests_made
    seen: set[int] = set()  # ranking order shifts between pages: never write a title twice
    try:
        while run.endpoint:
            for page in _prefetched(client.pages(run.endpoint, run.params, offset=run.next_offset)):
                fresh = [r for r in page.records if r.mal_id not in seen]
                seen.update(r.mal_id for r in fresh)
                with transaction.atomic():
                    counts = anime_upsert_many(records=fresh)
                    _advance(run, page)
                    run.pages += 1
                    run.requests = client.requests_made - requests_before
                    run.titles_created += counts.created
                    run.titles_updated += counts.updated
                    run.save(
                        update_fields=[
                            "endpoint",
                            "params",
                            "next_offset",
                            "pending",
                            "pages",
                            "requests",
                            "titles_created",
                            "titles_updated",
                        ]
                    )
                if progress:
                    progress(len(fresh))
    except BaseException as exc:
        # Only the failure fields: the in-memory checkpoint may be ahead of what committed.
        SyncRun.objects.filter(pk=run.pk).update(
            state=SyncRun.State.FAILED,
            finished_at=timezone.now(),
            requests=client.requests_made - requests_before,
            error=f"{type(exc).__name__}: {exc}"[:2000],
        )
        run.refresh_from_db()
        where = f"{run.endpoint} offset {run.next_offset}"
        logger.warning("catalog sync #%s (%s) failed at %s: %s", run.pk, mode, where, exc)
        raise
    finally:
        if owns_client:
            client.close()
    run.state = SyncRun.State.DONE
    run.finished_at = timezone.now()
    run.requests = client.requests_made - requests_before
    run.save(update_fields=["state", "finished_at", "requests"])
    return run
