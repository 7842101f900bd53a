"""Importing a member's list from MyAnimeList: by username through the API, or from an
uploaded XML export. Each import is an :class:`ImportRun` row worked by a Celery task.

The upload is parsed and validated in the request, so a bad file gets its message at once
and never becomes a run. The task claims its row with one conditional UPDATE (a redelivered
message finds nothing to claim), fetches what it needs from MAL while recording progress on
the row, then writes every entry in one transaction: a failed import leaves the list as it
was, and re-running it updates entries instead of duplicating them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from animender.errors import Conflict, ServiceUnavailable
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

from .mal_export import ExportEntry, MalExportError, parse_export
from .models import ImportRun, ListEntry

log = logging.getLogger(__name__)

VALID_STATUSES = frozenset(ListEntry.Status.values)
_IN_CHUNK = 900  # SQLite caps the number of bound parameters in one IN (...)


class MalUnavailable(ServiceUnavailable):
    """MAL cannot be asked now (down, throttling, or no client id configured): HTTP 503."""


def _client(**overrides) -> MalClient:
    return MalClient.from_settings(**overrides)


def _fail_stale(*, user) -> None:
    """Mark dead runs failed: a worker killed mid-run leaves its row 'running' forever, and
    the one-active-import constraint would then block the member's next import."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.LIST_IMPORT_STALE_SECONDS)
    ImportRun.objects.filter(user=user, status=ImportRun.Status.RUNNING).filter(
        heartbeat_at__lt=cutoff
    ).update(
        status=ImportRun.Status.FAILED,
        error="The import stopped without finishing (the worker was restarted); start it again.",
        error_code="interrupted",
        finished_at=now,
    )
    ImportRun.objects.filter(
        user=user, status=ImportRun.Status.QUEUED, created_at__lt=cutoff
    ).update(
        status=ImportRun.Status.FAILED,
        error="The import was never picked up by a worker; start it again.",
        error_code="interrupted",
        finished_at=now,
    )


def _create_run(*, user, **fields) -> ImportRun:
    from .tasks import import_list_task

    _fail_stale(user=user)
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
    """Validate an uploaded export (a Django ``UploadedFile``) and queue its import."""
    cap = settings.LIST_IMPORT_MAX_UPLOAD_BYTES
    if upload.size > cap:
        raise ValidationError(
            {"file": [f"The file is {upload.size / 2**20:.1f} MB; the limit is {cap // 2**20} MB."]}
        )
    data = upload.read(cap + 1)
    try:
        parsed = parse_export(data, max_xml_bytes=settings.LIST_IMPORT_MAX_XML_BYTES)
    except MalExportError as exc:
        raise ValidationError({"file": [str(exc)]}) from None
    return _create_run(
        user=user,
        source=ImportRun.Source.XML,
        filename=(getattr(upload, "name", "") or "")[:255],
        mal_username=parsed.user_name[:32],
        entries=[e.as_dict() for e in parsed.entries],
        total=len(parsed.entries),
        skipped=parsed.skipped,
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


def _progress(run: ImportRun, **fields) -> None:
    fields["heartbeat_at"] = timezone.now()
    for name, value in fields.items():
        setattr(run, name, value)
    ImportRun.objects.filter(pk=run.pk).update(**fields)


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
    _progress(
        run,
        status=ImportRun.Status.FAILED,
        error=message,
        error_code=code,
        phase="",
        finished_at=timezone.now(),
    )


def import_run_execute(
    *, run_id: int, client_factory: Callable[[], MalClient | None] = _optional_client
) -> ImportRun | None:
    """The task's work. Returns the row (None when it is gone)."""
    now = timezone.now()
    claimed = ImportRun.objects.filter(pk=run_id, status=ImportRun.Status.QUEUED).update(
        status=ImportRun.Status.RUNNING, started_at=now, heartbeat_at=now, phase="Starting"
    )
    run = ImportRun.objects.filter(pk=run_id).select_related("user").first()
    if not claimed or run is None:
        return run  # gone, or already claimed by an earlier delivery of the same message
    try:
        if run.source == ImportRun.Source.MAL_API:
            client = client_factory()
            if client is None:
                raise MalUnavailable("MAL_CLIENT_ID is not set on this server.")
            try:
                entries, records = _fetch_user_list(run, client)
            finally:
                client.close()
        else:
            entries, records = [ExportEntry(**e) for e in run.entries], {}
            _progress(run, phase="Checking titles against the catalog", processed=run.total)
        missing = _ensure_catalog(run, entries, records, client_factory)
        titles = {e.mal_id: e.title for e in entries}
        _progress(run, phase="Saving entries")
        counts = list_entries_import(
            user=run.user, entries=[e for e in entries if e.mal_id not in missing]
        )
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
        _progress(
            run,
            status=ImportRun.Status.DONE,
            phase="",
            processed=run.total,
            missing=[{"mal_id": i, "title": titles.get(i, "")} for i in sorted(missing)],
            entries=[],  # applied: the parsed upload is no longer needed
            finished_at=timezone.now(),
            **counts,
        )
        from recommender.personal_services import recommendations_refresh_request

        recommendations_refresh_request(user_id=run.user_id, trigger="import")
        _taste_training_after_import(user=run.user)
    return run


def _taste_training_after_import(*, user) -> None:
    """An imported list with likes and dislikes gives the member a taste model at once
    (when their profile lets list scores count as labels)."""
    from labeling.models import TasteTrainingRun
    from labeling.selectors import profile_for
    from labeling.services import taste_training_request

    if not profile_for(user=user).labels_from_list:
        return
    try:
        taste_training_request(user=user, trigger=TasteTrainingRun.Trigger.LIST)
    except ValidationError:
        pass  # only likes (or dislikes) so far: the model page says what is missing


__all__ = [
    "MalExportError",
    "MalUnavailable",
    "import_run_execute",
    "import_run_start_mal",
    "import_run_start_xml",
    "list_entries_import",
]
