"""The one lifecycle every background run row follows (catalog syncs, engine trainings,
evaluations, taste models, list imports, recommendation refreshes).

A run row moves ``queued -> running -> done | failed`` in its ``state`` field and is the
only lock there is:

* **Create** with :func:`run_create_exclusive` when a kind allows one active run (a partial
  unique constraint over :data:`ACTIVE_STATES`): the database's refusal becomes
  :class:`RunAlreadyActive` (HTTP 409, a command error, a beat log line), so two concurrent
  starts can never both win.
* **Claim** with :func:`run_claim`: one conditional ``UPDATE ... WHERE state = 'queued'``
  that also counts the attempt. Exactly one caller gets a :class:`Claim`; a second delivery
  of the same message (late-ack redelivery, a resend by the reaper) gets None and returns.
* **Own**: the claim is the pair (row, ``started_at`` of this attempt). :class:`Heartbeat`,
  :func:`run_update` and :func:`run_finish` all write only ``WHERE state = 'running' AND
  started_at = claim.started_at``, so a worker that was only slow, whose row the reaper has
  since failed or handed to another attempt, changes nothing.
* **Reap** with :func:`runs_reap` from one periodic task per kind: a running row silent for
  longer than the kind's stale limit belongs to a dead worker (SIGKILL, OOM, lost host). It
  goes back to ``queued`` and its message is sent again, until it has used the kind's
  ``max_attempts`` (``RUN_MAX_ATTEMPTS``, default 3); then it stays ``failed`` with the last
  error, so a fit that kills its worker is not restarted forever. A queued row whose message
  was lost (broker restart) is sent again, once per stale period.

The stale limit is ``RUN_STALE_AFTER_SECONDS`` for every kind, with per-kind overrides in
``RUN_STALE_AFTER_OVERRIDES`` (``"import=1800,evaluation=7200"``); the attempt cap likewise
(``RUN_MAX_ATTEMPTS``, ``RUN_MAX_ATTEMPTS_OVERRIDES``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F
from django.utils import timezone

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
# States that hold the "one at a time" slot.
ACTIVE_STATES = (QUEUED, RUNNING)
WORKER_LOST = "Worker lost: no heartbeat (process killed or host gone)."


class RunAlreadyActive(Exception):
    """Another run of the same kind is queued or running; ``active`` is that row (or None)."""

    def __init__(self, message: str, active: models.Model | None = None):
        super().__init__(message)
        self.active = active


class RunRow(models.Model):
    """The fields every run model shares; each model adds ``state`` with its own choices
    (a subset of queued/running/done/failed, plus kind-specific ones) and its own work."""

    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Workers that claimed this run (capped by RUN_MAX_ATTEMPTS)."
    )
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


@dataclass(frozen=True)
class RunKind:
    """One kind of run: its model, how to (re)send its task message, its limits.

    ``name`` keys the per-kind overrides of the stale limit and attempt cap. ``send(pk)``
    queues the row's task (called after commit). ``queued_since`` names the field that
    says when a never-claimed row was queued. ``scope`` narrows which rows the reaper
    looks at (e.g. ``{"mode": "full"}``); ``failed_fields`` are written in the same UPDATE
    that fails a row for good (e.g. freeing a slot, dropping a stored upload), and
    ``on_failed(row)`` runs after it (e.g. to start a member's next waiting run).
    """

    name: str
    model: type[models.Model]
    send: Callable[[int], object]
    queued_since: str = "created_at"
    scope: dict = field(default_factory=dict)
    failed_fields: dict = field(default_factory=dict)
    on_failed: Callable[[models.Model], object] | None = None

    def stale_after(self) -> timedelta:
        overrides = settings.RUN_STALE_AFTER_OVERRIDES
        return timedelta(seconds=float(overrides.get(self.name, settings.RUN_STALE_AFTER_SECONDS)))

    def max_attempts(self) -> int:
        return int(settings.RUN_MAX_ATTEMPTS_OVERRIDES.get(self.name, settings.RUN_MAX_ATTEMPTS))


@dataclass(frozen=True)
class Claim:
    """Proof that this worker owns attempt ``attempt`` of row ``pk``."""

    model: type[models.Model]
    pk: int
    started_at: datetime
    attempt: int

    def owned(self) -> models.QuerySet:
        return self.model.objects.filter(pk=self.pk, state=RUNNING, started_at=self.started_at)


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


def run_claim(model: type[models.Model], pk: int, **fields) -> Claim | None:
    """``queued -> running`` in one conditional UPDATE that counts the attempt; None when
    the row is not queued (another worker has it, it finished, or it is gone)."""
    now = timezone.now()
    claimed = model.objects.filter(pk=pk, state=QUEUED).update(
        state=RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1, **fields
    )
    if claimed != 1:
        return None
    attempt = model.objects.filter(pk=pk).values_list("attempts", flat=True).first() or 1
    return Claim(model, pk, now, attempt)


def run_update(claim: Claim, **fields) -> bool:
    """Write progress while still owning the attempt; False once it is not ours."""
    return claim.owned().update(**fields) == 1


def run_finish(claim: Claim, *, state: str, **fields) -> bool:
    """Record the end of the attempt; False when it is no longer ours (reaped, re-claimed)."""
    return claim.owned().update(state=state, finished_at=timezone.now(), **fields) == 1


def heartbeat_seconds() -> float:
    return float(settings.RUN_HEARTBEAT_SECONDS)


class Heartbeat:
    """Stamp ``heartbeat_at`` of an owned attempt every ``interval`` seconds, from a thread.

    Use as ``with Heartbeat(claim): ...long work...``. The thread has its own database
    connection and closes it on exit; a failed stamp is logged, never raised, so a database
    hiccup cannot fail the work (the reaper only acts after a long silence).
    """

    def __init__(self, claim: Claim, *, interval: float | None = None):
        self.claim = claim
        self.interval = heartbeat_seconds() if interval is None else interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"heartbeat-{claim.pk}", daemon=True
        )

    def beat(self) -> bool:
        return run_update(self.claim, heartbeat_at=timezone.now())

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    self.beat()
                except Exception:  # noqa: BLE001 - a missed beat is not worth a failed run
                    log.warning(
                        "heartbeat of %s #%s failed", self.claim.model.__name__, self.claim.pk
                    )
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)


@dataclass
class Reaped:
    """What one reaper pass did, by primary key."""

    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)


def _lost_error(row, cap: int, *, retrying: bool) -> str:
    said = f"{WORKER_LOST} Attempt {row.attempts} of {cap}"
    return f"{said}; queued again." if retrying else f"{said}: gave up."


def runs_reap(kind: RunKind) -> Reaped:
    """One reaper pass over ``kind``: requeue or fail silent running rows, resend lost
    queued ones. Each row is changed by its own conditional UPDATE (still running, same
    attempt), so a run that beat again meanwhile is left alone and two reapers never both
    act on one row."""
    now = timezone.now()
    cutoff = now - kind.stale_after()
    cap = kind.max_attempts()
    rows = kind.model.objects.filter(**kind.scope)
    # A row that never beat counts from its start.
    silent = models.Q(heartbeat_at__lt=cutoff) | models.Q(
        heartbeat_at__isnull=True, started_at__lt=cutoff
    )
    done = Reaped()
    for row in rows.filter(silent, state=RUNNING).order_by("pk"):
        mine = rows.filter(silent, pk=row.pk, state=RUNNING, started_at=row.started_at)
        retry = row.attempts < cap
        if retry:
            # heartbeat_at now: the resend below is the new message; it is not resent again
            # before another stale period passes without a claim.
            try:
                with transaction.atomic():
                    won = mine.update(
                        state=QUEUED, heartbeat_at=now, error=_lost_error(row, cap, retrying=True)
                    )
            except IntegrityError:
                # A kind with one queued row per scope (taste runs: per member) already has
                # a newer one queued; the kind's own reaper settles this row first.
                log.warning("reaper: %s #%s cannot be queued again", kind.name, row.pk)
                continue
        else:
            won = mine.update(
                state=FAILED,
                finished_at=now,
                error=_lost_error(row, cap, retrying=False),
                **kind.failed_fields,
            )
        if not won:
            continue
        log.warning("reaped %s #%s (attempt %s of %s)", kind.name, row.pk, row.attempts, cap)
        if retry:
            done.requeued.append(row.pk)
            transaction.on_commit(lambda pk=row.pk: kind.send(pk))
        else:
            done.failed.append(row.pk)
            if kind.on_failed is not None:
                row.refresh_from_db()
                kind.on_failed(row)
    # Queued rows whose message never reached a worker (broker restart, lost publish).
    lost = models.Q(heartbeat_at__lt=cutoff) | models.Q(
        heartbeat_at__isnull=True, **{f"{kind.queued_since}__lt": cutoff}
    )
    for pk in rows.filter(lost, state=QUEUED).order_by("pk").values_list("pk", flat=True):
        if rows.filter(lost, pk=pk, state=QUEUED).update(heartbeat_at=now):
            done.resent.append(pk)
            transaction.on_commit(lambda pk=pk: kind.send(pk))
    return done
