"""Patterns every background run row shares (catalog syncs, training runs, taste models).

A run row moves ``queued -> running -> done | failed`` and is the only lock there is:

* **Claim** with :func:`run_claim`: one conditional ``UPDATE ... WHERE state = 'queued'``.
  Exactly one caller gets ``True``; a second delivery of the same Celery message (acks_late
  redelivery, a duplicate publish) gets ``False`` and must return without working.
* **One at a time** is a partial unique constraint on the model, over the "active" states,
  e.g. ``UniqueConstraint(fields=["engine"], condition=Q(state__in=ACTIVE), name=...)``.
  Create the row inside :func:`run_create_exclusive`, which turns the database's refusal
  into :class:`RunAlreadyActive` (HTTP 409, a command error, a beat log line). The database
  decides, so two concurrent starts can never both win (no check-then-act in Python).
* **Heartbeat** with :class:`Heartbeat` around the work: a daemon thread stamps
  ``heartbeat_at`` every few seconds while the row is still running.
* **Reap** with :func:`runs_reap_stale` from a periodic task: rows still "running" whose
  heartbeat is older than the stale limit belong to a dead worker (SIGKILL, OOM, lost
  host); they are failed in one conditional UPDATE each and handed back so the caller can
  queue a replacement.
* **Finish** with :func:`run_finish`: also conditional on ``state='running'``, so a run the
  reaper already failed is not resurrected as done by a worker that was only slow.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
# States that hold the "one at a time" slot.
ACTIVE_STATES = (QUEUED, RUNNING)


class RunAlreadyActive(Exception):
    """Another run of the same kind is queued or running; ``active`` is that row (or None)."""

    def __init__(self, message: str, active: models.Model | None = None):
        super().__init__(message)
        self.active = active


def run_create_exclusive(
    model: type[models.Model], *, active_filter: dict, describe: str, **fields
) -> models.Model:
    """Create a run row; the model's partial unique constraint refuses a second active one.

    ``active_filter`` selects the rows competing for the slot (e.g. ``{"engine": name}``);
    it is only used to name the run in the way in the error message.
    """
    try:
        with transaction.atomic():
            return model.objects.create(**fields)
    except IntegrityError:
        active = (
            model.objects.filter(**active_filter, state__in=ACTIVE_STATES).order_by("pk").first()
        )
        where = f" (#{active.pk}, {active.state})" if active is not None else ""
        raise RunAlreadyActive(f"{describe} is already queued or running{where}.", active) from None


def run_claim(model: type[models.Model], pk: int, **fields) -> bool:
    """``queued -> running`` in one conditional UPDATE; False when another worker has it."""
    now = timezone.now()
    claimed = model.objects.filter(pk=pk, state=QUEUED).update(
        state=RUNNING, started_at=now, heartbeat_at=now, **fields
    )
    return claimed == 1


def run_finish(model: type[models.Model], pk: int, *, state: str, **fields) -> bool:
    """Record the end of a running run; False when it is no longer running (reaped)."""
    return (
        model.objects.filter(pk=pk, state=RUNNING).update(
            state=state, finished_at=timezone.now(), **fields
        )
        == 1
    )


def heartbeat_seconds() -> float:
    return float(settings.RUN_HEARTBEAT_SECONDS)


def stale_after() -> timedelta:
    return timedelta(seconds=float(settings.RUN_STALE_AFTER_SECONDS))


class Heartbeat:
    """Stamp ``heartbeat_at`` of a running row every ``interval`` seconds, from a thread.

    Use as ``with Heartbeat(TrainingRun, run.pk): ...long work...``. The thread has its own
    database connection and closes it on exit; a failed stamp is logged, never raised, so
    a database hiccup cannot fail the work (the reaper only acts after a long silence).
    """

    def __init__(self, model: type[models.Model], pk: int, *, interval: float | None = None):
        self.model, self.pk = model, pk
        self.interval = heartbeat_seconds() if interval is None else interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{pk}", daemon=True)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    self.model.objects.filter(pk=self.pk, state=RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:  # noqa: BLE001 - a missed beat is not worth a failed run
                    log.warning("heartbeat of %s #%s failed", self.model.__name__, self.pk)
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)


def runs_reap_stale(
    queryset: models.QuerySet,
    *,
    error: str = "Worker lost: no heartbeat (process killed or host gone).",
    on_reaped: Callable[[models.Model], None] | None = None,
    **fields,
) -> list[models.Model]:
    """Fail the running rows of ``queryset`` whose heartbeat is older than the stale limit.

    Each row is failed by its own conditional UPDATE (still running, still stale), so a run
    that beat again meanwhile is left alone and two reapers never both reap one row.
    ``on_reaped(row)`` runs after each, e.g. to queue a replacement.
    """
    cutoff = timezone.now() - stale_after()
    # A row that never beat (written before heartbeats existed) counts from its start.
    silent = models.Q(heartbeat_at__lt=cutoff) | models.Q(
        heartbeat_at__isnull=True, started_at__lt=cutoff
    )
    reaped = []
    for row in queryset.filter(silent, state=RUNNING).order_by("pk"):
        won = queryset.filter(silent, pk=row.pk, state=RUNNING).update(
            state=FAILED, finished_at=timezone.now(), error=error, **fields
        )
        if won:
            row.refresh_from_db()
            log.warning("reaped %s #%s: %s", type(row).__name__, row.pk, error)
            reaped.append(row)
            if on_reaped is not None:
                on_reaped(row)
    return reaped
