"""Writes to the catalog. Every source funnels through :func:`anime_upsert_many`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, models, transaction
from django.utils import timezone

from .franchises import franchise_index_invalidate
from .models import Anime, Genre, Studio
from .records import ANIME_FIELDS, AnimeRecord, NamedRef


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0

    def __iadd__(self, other: UpsertCounts) -> UpsertCounts:
        self.created += other.created
        self.updated += other.updated
        return self


def _refs_to_ids(model: type[Genre] | type[Studio], refs: Iterable[NamedRef]) -> dict[str, int]:
    """Ensure every named genre/studio exists; return name -> pk.

    MAL ids win over names: when MAL renames a genre or studio under the same id, the row
    follows the id (or, if a row of the new name already exists without an id, that row
    takes the id over), so neither a duplicate nor a unique-constraint error results.
    """
    wanted = {r.name: r.mal_id for r in refs}
    if not wanted:
        return {}
    name_of_id = {m: n for n, m in wanted.items() if m is not None}
    if name_of_id:
        moved = [
            o for o in model.objects.filter(mal_id__in=name_of_id) if o.name != name_of_id[o.mal_id]
        ]
        if moved:
            taken = set(
                model.objects.filter(name__in=[name_of_id[o.mal_id] for o in moved]).values_list(
                    "name", flat=True
                )
            )
            released = [o for o in moved if name_of_id[o.mal_id] in taken]
            for o in released:
                o.mal_id = None
            model.objects.bulk_update(released, ["mal_id"])
            renamed = [o for o in moved if o not in released]
            for o in renamed:
                o.name = name_of_id[o.mal_id]
            model.objects.bulk_update(renamed, ["name"])
    existing = dict(model.objects.filter(name__in=wanted).values_list("name", "pk"))
    missing = [model(name=n, mal_id=m) for n, m in wanted.items() if n not in existing]
    if missing:
        # ignore_conflicts: a concurrent sync may have created the same name meanwhile.
        model.objects.bulk_create(missing, ignore_conflicts=True)
        existing = dict(model.objects.filter(name__in=wanted).values_list("name", "pk"))
    if name_of_id:
        stale = model.objects.filter(name__in=name_of_id.values(), mal_id__isnull=True)
        for obj in stale:
            obj.mal_id = wanted[obj.name]
        model.objects.bulk_update(stale, ["mal_id"])
    return existing


# Both backends we run on (settings.py) speak INSERT ... ON CONFLICT; anything else takes
# the slower ORM path.
_RAW_UPSERT_VENDORS = frozenset({"sqlite", "postgresql"})


# Ids per IN (...) list: below SQLite's historical 999-variable limit.
_IN_CHUNK = 900


def _insert_many(head: str, tail: str, rows: list) -> None:
    """``head VALUES (...), (...) tail``: executemany on SQLite (in-process, already fast);
    multi-row statements on PostgreSQL, where one round trip per row dominated."""
    if not rows:
        return
    width = len(rows[0])
    one = f"({', '.join(['%s'] * width)})"
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.executemany(f"{head} VALUES {one} {tail}", rows)
            return
        per_statement = max(1, 30000 // width)  # under PostgreSQL's 65535 parameters
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            cursor.execute(
                f"{head} VALUES {', '.join([one] * len(chunk))} {tail}",
                [value for row in chunk for value in row],
            )


def _existing_rows(ids: list[int]) -> dict[int, dict]:
    """The columns an upsert merges with (titles for search_text, is_adult), by mal_id."""
    columns = ("mal_id", "title", "title_english", "title_japanese", "synonyms", "is_adult")
    if connection.vendor not in _RAW_UPSERT_VENDORS:
        return {row["mal_id"]: row for row in Anime.objects.filter(mal_id__in=ids).values(*columns)}
    # Raw: Django prepares every IN value one by one, a third of a sync page's write time.
    qn = connection.ops.quote_name
    synonyms = Anime._meta.get_field("synonyms")
    rows = {}
    with connection.cursor() as cursor:
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            cursor.execute(
                f"SELECT {', '.join(map(qn, columns))} FROM {qn(Anime._meta.db_table)} "
                f"WHERE {qn('mal_id')} IN ({', '.join(['%s'] * len(chunk))})",
                chunk,
            )
            for mal_id, title, english, japanese, syn, adult in cursor.fetchall():
                rows[mal_id] = {
                    "mal_id": mal_id,
                    "title": title,
                    "title_english": english,
                    "title_japanese": japanese,
                    "is_adult": bool(adult),
                    "synonyms": synonyms.from_db_value(syn, None, connection),
                }
    return rows


def _replace_links(
    through, owner_field: str, target_field: str, links: dict[int, list[int]]
) -> None:
    owners = list(links)
    if connection.vendor in _RAW_UPSERT_VENDORS:
        qn = connection.ops.quote_name
        with connection.cursor() as cursor:
            for start in range(0, len(owners), _IN_CHUNK):
                chunk = owners[start : start + _IN_CHUNK]
                cursor.execute(
                    f"DELETE FROM {qn(through._meta.db_table)} WHERE "
                    f"{qn(owner_field)} IN ({', '.join(['%s'] * len(chunk))})",
                    chunk,
                )
    else:
        through.objects.filter(**{f"{owner_field}__in": owners}).delete()
    pairs = [(a, t) for a, ts in links.items() for t in dict.fromkeys(ts)]
    if not pairs:
        return
    if connection.vendor not in _RAW_UPSERT_VENDORS:
        through.objects.bulk_create(
            [through(**{owner_field: a, target_field: t}) for a, t in pairs], batch_size=2000
        )
        return
    # Plain SQL: building ~3 model instances per title cost more than the writes.
    qn = connection.ops.quote_name
    _insert_many(
        f"INSERT INTO {qn(through._meta.db_table)} ({qn(owner_field)}, {qn(target_field)})",
        "",
        pairs,
    )


def _upsert_rows(columns: tuple[str, ...], rows: list[dict]) -> None:
    """INSERT ... ON CONFLICT (mal_id) DO UPDATE only ``columns``, for many rows at once.

    New rows get every column (defaults where the record is silent); existing rows keep
    the columns the record does not carry. Same effect as ``bulk_create(update_conflicts=
    True)`` without compiling SQL and preparing every value through the ORM, which took
    most of the bulk import's time.
    """
    meta = Anime._meta
    fields = [f for f in meta.concrete_fields if f.attname not in ("created_at", "updated_at")]
    created, updated = meta.get_field("created_at"), meta.get_field("updated_at")
    stamp = created.get_db_prep_save(timezone.now(), connection)
    # Only JSON and datetime values need the backend's adaptation; the rest pass as is.
    adapt = {f.attname for f in fields if isinstance(f, models.JSONField | models.DateTimeField)}
    defaults = {f.attname: f.get_default() for f in fields}
    qn = connection.ops.quote_name
    names = [qn(f.column) for f in fields] + [qn(created.column), qn(updated.column)]
    update_columns = [qn(meta.get_field(c).column) for c in (*columns, "updated_at")]
    assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in update_columns)
    head = f"INSERT INTO {qn(meta.db_table)} ({', '.join(names)})"
    tail = f"ON CONFLICT ({qn(meta.pk.column)}) DO UPDATE SET {assignments}"
    params = []
    for row in rows:
        values = []
        for f in fields:
            value = row.get(f.attname, defaults[f.attname])
            values.append(f.get_db_prep_save(value, connection) if f.attname in adapt else value)
        params.append((*values, stamp, stamp))
    _insert_many(head, tail, params)


@transaction.atomic
def anime_upsert_many(*, records: list[AnimeRecord]) -> UpsertCounts:
    """Insert or update titles by MAL id, in bulk and idempotently.

    Only the fields a record carries are written, so a list payload never wipes detail
    data. Genre/studio links are replaced for records that state them. Duplicate ids in
    one batch keep the last record.
    """
    by_id = {r.mal_id: r for r in records}
    if not by_id:
        return UpsertCounts()
    existing = _existing_rows(list(by_id))
    # Group by the set of fields carried: one upsert statement updates the same columns for
    # every row, and a source must not blank the columns it did not send.
    groups: dict[tuple[str, ...], list[dict]] = {}
    for rec in by_id.values():
        values = {k: v for k, v in rec.values.items() if k in ANIME_FIELDS}
        adult = rec.is_adult()
        if adult is None:
            adult = existing.get(rec.mal_id, {}).get("is_adult", False)
        row = {
            **values,
            "mal_id": rec.mal_id,
            "is_adult": adult,
            "search_text": rec.search_text(existing.get(rec.mal_id)),
        }
        groups.setdefault(tuple(sorted(values)) + ("search_text", "is_adult"), []).append(row)
    for columns, rows in groups.items():
        if connection.vendor in _RAW_UPSERT_VENDORS:
            _upsert_rows(columns, rows)
        else:
            Anime.objects.bulk_create(
                [Anime(**row) for row in rows],
                batch_size=1000,
                update_conflicts=True,
                unique_fields=["mal_id"],
                update_fields=[*columns, "updated_at"],
            )

    links = (
        (Genre, Anime.genres.through, "genre_id", "genres"),
        (Studio, Anime.studios.through, "studio_id", "studios"),
    )
    for model, through, target_field, attr in links:
        stated = [r for r in by_id.values() if getattr(r, attr) is not None]
        if stated:
            ids = _refs_to_ids(model, (ref for r in stated for ref in getattr(r, attr)))
            _replace_links(
                through,
                "anime_id",
                target_field,
                {r.mal_id: [ids[ref.name] for ref in getattr(r, attr)] for r in stated},
            )

    # Titles, names or adult flags changed: this process regroups franchises on next use
    # (other processes within franchises.INDEX_TTL_SECONDS).
    transaction.on_commit(franchise_index_invalidate)
    created = len(by_id.keys() - existing.keys())
    return UpsertCounts(created=created, updated=len(by_id) - created)


def catalog_import_csv(*, path, chunk_size: int = 2000, progress=None) -> UpsertCounts:
    """Import a catalog CSV all-or-nothing: parse and validate every row, then upsert.

    ``progress(n)`` is called after each chunk with the number of rows written.
    Raises :class:`catalog.csv_import.CatalogCsvError` (with the line) before any write.
    """
    from .csv_import import parse_catalog_csv

    records = list(parse_catalog_csv(path))
    counts = UpsertCounts()
    with transaction.atomic():
        for start in range(0, len(records), chunk_size):
            chunk = records[start : start + chunk_size]
            counts += anime_upsert_many(records=chunk)
            if progress:
                progress(len(chunk))
    return counts
