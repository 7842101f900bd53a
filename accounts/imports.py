"""Importing a member's list from MyAnimeList: by username through the API, or from an
uploaded XML export. Each import is an :class:`ImportRun` row worked by a Celery task.

The request only checks an upload cheaply (its size, that it is gzip or XML with a
<myanimelist> root) and stores its bytes on the run; the task parses it whole, with caps on
its unpacked size and on its entries, and a bad file fails the run with the parser's message.
The stored bytes are cleared when the run ends, done or failed. The task claims its row
with one conditional UPDATE (a redelivered message finds nothing to claim), fetches what it
needs from MAL while recording progress on the row, then writes every entry in one
transaction with the row's "done": a failed import leaves the list as it was, and re-running
it updates entries instead of duplicating them. Claim, heartbeat, finish and the reaper
(``accounts.reap_stale_imports`` on beat) follow :mod:`animender.runs`: a worker killed
mid-import has its run queued again until RUN_MAX_ATTEMPTS, and a worker whose run was
reaped meanwhile writes nothing, entries included.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from animender import hooks
from animender.errors import Conflict, ServiceUnavailable
from animender.hooks import hook_fire
from animender.runs import Claim, Heartbeat, RunKind, run_claim, run_finish, run_update, runs_reap
from catalog.mal_client import (
    MalClient,
    MalConfigError,
    MalError,
    MalListPrivate,
    MalNotFound,
    MalUserNotFound,
)
from catalog.models import Anime
from catalog.records import AnimeRecord
from catalog.services import anime_upsert_many

from .mal_export import ExportEntry, MalExportError, parse_export, upload_check
from .models import ImportRun, ListEntry

log = logging.getLogger(__name__)

VALID_STATUSES = frozenset(ListEntry.Status.values)
_IN_CHUNK = 900  # SQLite caps the number of bound parameters in one IN (...)


class MalUnavailable(ServiceUnavailable):
    """MAL cannot be asked now (down, throttling, or no client id configured): HTTP 503."""


def _client(**overrides) -> MalClient:
    return MalClient.from_settings(**overrides)


def _send(run_id: int) -> None:
    from .tasks import import_list_task

    import_list_task.delay(run_id)


IMPORT_RUNS = RunKind(
    name="import",
    model=ImportRun,
    send=_send,
    # Failed for good: the upload is not kept for a run that will not be retried.
    failed_fields={"upload": None, "phase": "", "error_code": "interrupted"},
)


def import_runs_reap() -> dict[str, list[int]]:
    """One reaper pass (beat): imports whose worker died are queued again, or failed for
    good after RUN_MAX_ATTEMPTS (which frees the member's import slot); queued imports whose
    message was lost are sent again. Returns the primary keys acted on."""
    return asdict(runs_reap(IMPORT_RUNS))


def _create_run(*, user, **fields) -> ImportRun:
    from .tasks import import_list_task

    try:
        with transaction.atomic():
            run = ImportRun.objects.create(user=user, **fields)
    except IntegrityError:
        raise Conflict(
            "An import of your list is already queued or running; wait for it to finish.",
            code="import_running",
        ) from None
    transaction.on_commit(lambda: import_list_task.delay(run.pk))
    return run


def import_run_start_xml(*, user, upload) -> ImportRun:
    """Check an uploaded export (a Django ``UploadedFile``) cheaply and queue its import;
    the task parses it."""
    cap = settings.LIST_IMPORT_MAX_UPLOAD_BYTES
    too_big = ValidationError(
        {"file": [f"The file is {upload.size / 2**20:.1f} MB; the limit is {cap // 2**20} MB."]}
    )
    if upload.size > cap:
        raise too_big
    data = upload.read(cap + 1)
    if len(data) > cap:
        raise too_big  # the declared size lied
    try:
        upload_check(data)
    except MalExportError as exc:
        raise ValidationError({"file": [str(exc)]}) from None
    return _create_run(
        user=user,
        source=ImportRun.Source.XML,
        filename=(getattr(upload, "name", "") or "")[:255],
        upload=data,
        phase="Queued",
    )


def import_run_start_mal(*, user, mal_username: str) -> ImportRun:
    """Check the MAL list can be read (one small request), then queue its import."""
    name = (mal_username or "").strip()
    if not name:
        raise ValidationError({"mal_username": ["Enter your MyAnimeList user name."]})
    try:
        client = _client(max_retries=1, request_interval=0)
    except MalConfigError:
        raise MalUnavailable(
            "Import by user name needs MAL_CLIENT_ID on this server; upload your XML export "
            "instead."
        ) from None
    try:
        client.user_animelist_check(name)
    except (MalUserNotFound, MalListPrivate) as exc:
        raise ValidationError({"mal_username": [str(exc)]}) from None
    except MalError as exc:
        raise MalUnavailable(
            f"MyAnimeList is not answering now ({exc}); try again in a few minutes."
        ) from None
    finally:
        client.close()
    return _create_run(
        user=user, source=ImportRun.Source.MAL_API, mal_username=name, phase="Queued"
    )


# -- the task's work ----------------------------------------------------------------------


class _ClaimLost(Exception):
    """The reaper took this run from us (we were silent too long): stop, write nothing."""


def _claim_of(run: ImportRun) -> Claim:
    # The row as loaded right after the claim: its started_at names this attempt.
    return Claim(ImportRun, run.pk, run.started_at, run.attempts)


def _progress(run: ImportRun, **fields) -> None:
    fields["heartbeat_at"] = timezone.now()
    for name, value in fields.items():
        setattr(run, name, value)
    if not run_update(_claim_of(run), **fields):
        raise _ClaimLost


def _fetch_user_list(
    run: ImportRun, client: MalClient
) -> tuple[list[ExportEntry], dict[int, AnimeRecord]]:
    entries: dict[int, ExportEntry] = {}
    records: dict[int, AnimeRecord] = {}
    skipped = 0
    _progress(run, phase=f"Reading {run.mal_username}'s list from MyAnimeList")
    client.begin_run()
    for page in client.user_animelist_pages(run.mal_username):
        for record, item in zip(page.records, page.items, strict=True):
            status = item.get("list_status") or {}
            state = status.get("status")
            score = status.get("score")
            watched = status.get("num_episodes_watched")
            if state not in VALID_STATUSES:
                skipped += 1
                continue
            entries[record.mal_id] = ExportEntry(
                mal_id=record.mal_id,
                title=str(record.values.get("title", ""))[:500],
                status=state,
                score=score if isinstance(score, int) and 1 <= score <= 10 else None,
                episodes_watched=watched if isinstance(watched, int) and watched > 0 else 0,
            )
            records[record.mal_id] = record
        _progress(run, total=len(entries), processed=len(entries), skipped=skipped)
    return list(entries.values()), records


def _known_ids(ids: list[int]) -> set[int]:
    known: set[int] = set()
    for i in range(0, len(ids), _IN_CHUNK):
        chunk = ids[i : i + _IN_CHUNK]
        known.update(Anime.objects.filter(mal_id__in=chunk).values_list("mal_id", flat=True))
    return known


def _ensure_catalog(
    run: ImportRun,
    entries: list[ExportEntry],
    records: dict[int, AnimeRecord],
    client_factory: Callable[[], MalClient | None],
) -> set[int]:
    """Add titles the catalog lacks (from the list payload, else MAL's details endpoint);
    return the ids still missing, which the run reports."""
    known = _known_ids([e.mal_id for e in entries])
    unknown = [e.mal_id for e in entries if e.mal_id not in known]
    if not unknown:
        return set()
    from_payload = [records[i] for i in unknown if i in records]
    if from_payload:
        anime_upsert_many(records=from_payload)
    fetched = len(from_payload)
    still = [i for i in unknown if i not in records]
    cap = settings.LIST_IMPORT_MAX_DETAIL_FETCHES
    client = client_factory() if still else None
    if client is not None:
        _progress(run, phase=f"Fetching {min(len(still), cap)} titles missing from the catalog")
        done = []
        for mal_id in still[:cap]:
            try:
                anime_upsert_many(records=[client.anime_details(mal_id)])
            except MalNotFound:
                continue  # deleted or merged on MAL: reported as missing
            except MalError as exc:
                log.warning("import %s: details of %s failed: %s", run.pk, mal_id, exc)
                break  # MAL is struggling: report the rest instead of failing the import
            done.append(mal_id)
            fetched += 1
            if fetched % 20 == 0:
                _progress(run, titles_fetched=fetched)
        still = [i for i in still if i not in set(done)]
    _progress(run, titles_fetched=fetched)
    return set(still)


def _optional_client() -> MalClient | None:
    try:
        return _client()
    except MalConfigError:
        return None  # no client id: missing titles are reported, not fetched


@transaction.atomic
def list_entries_import(*, user, entries: list[ExportEntry]) -> dict[str, int]:
    """Upsert imported entries into one member's list (all or nothing).

    Keyed on the title: a re-import updates status, score and episodes instead of adding
    rows, leaves "not interested" alone, and skips entries whose export said
    ``update_on_import`` 0 when the title is already listed.
    """
    ids = [e.mal_id for e in entries]
    existing: dict[int, ListEntry] = {}
    for i in range(0, len(ids), _IN_CHUNK):
        for row in ListEntry.objects.filter(user=user, anime_id__in=ids[i : i + _IN_CHUNK]):
            existing[row.anime_id] = row
    now = timezone.now()
    to_create, to_update, unchanged = [], [], 0
    for e in entries:
        row = existing.get(e.mal_id)
        new = (e.status, e.score, e.episodes_watched)
        if row is None:
            to_create.append(
                ListEntry(
                    user=user,
                    anime_id=e.mal_id,
                    status=e.status,
                    score=e.score,
                    episodes_watched=e.episodes_watched,
                )
            )
        elif not e.update_on_import or (row.status, row.score, row.episodes_watched) == new:
            unchanged += 1
        else:
            row.status, row.score, row.episodes_watched = new
            row.updated_at = now
            to_update.append(row)
    ListEntry.objects.bulk_create(to_create, batch_size=500)
    ListEntry.objects.bulk_update(
        to_update, ["status", "score", "episodes_watched", "updated_at"], batch_size=500
    )
    return {"created": len(to_create), "updated": len(to_update), "unchanged": unchanged}


def _finish_failed(run: ImportRun, *, message: str, code: str) -> None:
    run_finish(
        _claim_of(run),
        state=ImportRun.State.FAILED,
        error=message,
        error_code=code,
        phase="",
        upload=None,  # a failed run is not retried from its upload: a new upload starts over
    )


def _parse_upload(run: ImportRun) -> list[ExportEntry]:
    _progress(run, phase="Reading the uploaded file")
    parsed = parse_export(
        bytes(run.upload or b""),
        max_xml_bytes=settings.LIST_IMPORT_MAX_XML_BYTES,
        max_entries=settings.LIST_IMPORT_MAX_ENTRIES,
    )
    _progress(
        run,
        mal_username=parsed.user_name[:32],
        total=len(parsed.entries),
        skipped=parsed.skipped,
    )
    return parsed.entries


def import_run_execute(
    *, run_id: int, client_factory: Callable[[], MalClient | None] = _optional_client
) -> ImportRun | None:
    """The task's work. Returns the row (None when it is gone)."""
    claim = run_claim(ImportRun, run_id, phase="Starting")
    run = ImportRun.objects.filter(pk=run_id).select_related("user").first()
    if claim is None or run is None:
        return run  # gone, or already claimed by an earlier delivery of the same message
    try:
        with Heartbeat(claim):
            _import(run, claim, client_factory)
    except _ClaimLost:
        log.warning("import %s: reaped while it ran; this worker wrote nothing", run.pk)
    except MalExportError as exc:
        _finish_failed(run, message=str(exc), code="bad_file")
    except (MalUserNotFound, MalListPrivate) as exc:
        _finish_failed(run, message=str(exc), code=type(exc).__name__)
    except MalError as exc:
        _finish_failed(
            run,
            message=f"MyAnimeList failed ({exc}); nothing was changed. Try again later.",
            code="mal_unavailable",
        )
    except MalUnavailable as exc:
        _finish_failed(run, message=str(exc), code="mal_unavailable")
    except Exception as exc:  # the row must say failed, whatever broke
        log.exception("import %s failed", run.pk)
        _finish_failed(
            run,
            message=f"The import failed ({type(exc).__name__}); nothing was changed.",
            code="internal_error",
        )
    else:
        hook_fire(hooks.MEMBER_INPUTS_CHANGED, user_id=run.user_id, trigger="import")
        hook_fire(hooks.LIST_IMPORTED, user=run.user)
    run.refresh_from_db()
    return run


def _import(run: ImportRun, claim: Claim, client_factory: Callable[[], MalClient | None]) -> None:
    if run.source == ImportRun.Source.MAL_API:
        client = client_factory()
        if client is None:
            raise MalUnavailable("MAL_CLIENT_ID is not set on this server.")
        try:
            entries, records = _fetch_user_list(run, client)
        finally:
            client.close()
    else:
        entries, records = _parse_upload(run), {}
        _progress(run, phase="Checking titles against the catalog", processed=run.total)
    missing = _ensure_catalog(run, entries, records, client_factory)
    titles = {e.mal_id: e.title for e in entries}
    _progress(run, phase="Saving entries")
    # The entries and "done" commit together, and only while this attempt owns the run: a
    # worker the reaper gave up on (its run failed, or queued for another) changes nothing.
    with transaction.atomic():
        counts = list_entries_import(
            user=run.user, entries=[e for e in entries if e.mal_id not in missing]
        )
        if not run_finish(
            claim,
            state=ImportRun.State.DONE,
            error="",  # an earlier attempt's "worker lost" is history once one succeeds
            phase="",
            processed=run.total,
            missing=[{"mal_id": i, "title": titles.get(i, "")} for i in sorted(missing)],
            upload=None,  # applied: the upload is no longer needed
            **counts,
        ):
            raise _ClaimLost


__all__ = [
    "MalExportError",
    "MalUnavailable",
    "import_run_execute",
    "import_run_start_mal",
    "import_run_start_xml",
    "list_entries_import",
]
