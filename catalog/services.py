"""Writes to the catalog. Every source funnels through :func:`anime_upsert_many`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

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
    """Ensure every named genre/studio exists; return name -> pk. Two queries per call."""
    wanted = {r.name: r.mal_id for r in refs}
    if not wanted:
        return {}
    existing = dict(model.objects.filter(name__in=wanted).values_list("name", "pk"))
    missing = [model(name=n, mal_id=m) for n, m in wanted.items() if n not in existing]
    if missing:
        # ignore_conflicts: a concurrent sync may have created the same name meanwhile.
        model.objects.bulk_create(missing, ignore_conflicts=True)
        existing = dict(model.objects.filter(name__in=wanted).values_list("name", "pk"))
    known_ids = {n for n, m in wanted.items() if m is not None}
    if known_ids:
        stale = model.objects.filter(name__in=known_ids, mal_id__isnull=True)
        for obj in stale:
            obj.mal_id = wanted[obj.name]
        model.objects.bulk_update(stale, ["mal_id"])
    return existing


def _replace_links(through, owner_field: str, target_field: str,
                   links: dict[int, list[int]]) -> None:
    through.objects.filter(**{f"{owner_field}__in": list(links)}).delete()
    through.objects.bulk_create(
        [through(**{owner_field: a, target_field: t}) for a, ts in links.items()
         for t in dict.fromkeys(ts)],
        batch_size=2000,
    )


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
    existing = {
        row["mal_id"]: row
        for row in Anime.objects.filter(mal_id__in=by_id).values(
            "mal_id", "title", "title_english", "title_japanese", "synonyms", "is_adult")
    }
    # Group by the set of fields carried: bulk upsert updates the same columns for every row.
    groups: dict[tuple[str, ...], list[Anime]] = {}
    for rec in by_id.values():
        values = {k: v for k, v in rec.values.items() if k in ANIME_FIELDS}
        adult = rec.is_adult()
        if adult is None:
            adult = existing.get(rec.mal_id, {}).get("is_adult", False)
        obj = Anime(mal_id=rec.mal_id, search_text=rec.search_text(existing.get(rec.mal_id)),
                    is_adult=adult, **values)
        key = tuple(sorted(values)) + ("search_text", "is_adult", "updated_at")
        groups.setdefault(key, []).append(obj)
    for update_fields, objs in groups.items():
        Anime.objects.bulk_create(objs, batch_size=1000, update_conflicts=True,
                                  unique_fields=["mal_id"], update_fields=list(update_fields))

    with_genres = [r for r in by_id.values() if r.genres is not None]
    if with_genres:
        ids = _refs_to_ids(Genre, (g for r in with_genres for g in r.genres))
        _replace_links(Anime.genres.through, "anime_id", "genre_id",
                       {r.mal_id: [ids[g.name] for g in r.genres] for r in with_genres})
    with_studios = [r for r in by_id.values() if r.studios is not None]
    if with_studios:
        ids = _refs_to_ids(Studio, (s for r in with_studios for s in r.studios))
        _replace_links(Anime.studios.through, "anime_id", "studio_id",
                       {r.mal_id: [ids[s.name] for s in r.studios] for r in with_studios})

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
            chunk = records[start:start + chunk_size]
            counts += anime_upsert_many(records=chunk)
            if progress:
                progress(len(chunk))
    return counts
