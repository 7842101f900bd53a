"""Background sync of MAL's ``related_anime`` (one details call per title).

``related_anime`` is a detail-only field (mal-api.md §4), so it costs one request per title:
13.5k titles at the client's ~1 request/s is most of a day. The sync therefore runs in
small batches (a Celery task every hour, or the command), most popular titles first, and
writes each title's relations together with its ``relations_synced_at`` in one
transaction: a batch that dies anywhere leaves the catalog consistent, and the next batch
starts at the first title not yet written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .franchises import franchise_index_invalidate
from .mal_client import MalClient, MalError, MalNotFound
from .models import Anime, AnimeRelation

logger = logging.getLogger(__name__)

# MAL edits relations rarely (a new season links to the last one); a month is fresh enough.
STALE_AFTER = timedelta(days=30)
VALID_TYPES = frozenset(AnimeRelation.Type.values)


@dataclass
class RelationSyncResult:
    titles: int = 0  # titles whose relations were written
    relations: int = 0  # edges written
    not_found: int = 0  # titles MAL no longer has (deleted or merged)
    remaining: int = 0  # titles still due after this batch
    error: str = ""  # the MAL error that stopped the batch early (resumable)


def relations_due(*, stale_after: timedelta = STALE_AFTER):
    """Titles whose relations were never fetched or are older than ``stale_after``,
    never-fetched first, then the most popular (their franchises show up most)."""
    cutoff = timezone.now() - stale_after
    return Anime.objects.filter(
        Q(relations_synced_at__isnull=True) | Q(relations_synced_at__lt=cutoff)
    ).order_by(
        F("relations_synced_at").asc(nulls_first=True),
        F("popularity").asc(nulls_last=True),
        F("num_list_users").desc(nulls_last=True),
        "mal_id",
    )


def _store(anime_id: int, edges: list[tuple[int, str]]) -> int:
    with transaction.atomic():
        AnimeRelation.objects.filter(anime_id=anime_id).delete()
        AnimeRelation.objects.bulk_create(
            [AnimeRelation(anime_id=anime_id, related_id=r, relation_type=t) for r, t in edges]
        )
        Anime.objects.filter(mal_id=anime_id).update(relations_synced_at=timezone.now())
    return len(edges)


def relations_sync(
    *,
    limit: int | None = None,
    client: MalClient | None = None,
    stale_after: timedelta = STALE_AFTER,
    progress: Callable[[int], None] | None = None,
) -> RelationSyncResult:
    """Fetch and store ``related_anime`` for up to ``limit`` due titles.

    Requests go one at a time through :class:`MalClient` (its pacing, backoff and 429/5xx
    retries). A config error (bad client id) raises; a retryable error that outlived the
    retries ends the batch early with ``error`` set: what was written stays, and the next
    batch continues from there.
    """
    owns_client = client is None
    client = client or MalClient.from_settings()
    client.begin_run()
    result = RelationSyncResult()
    due = list(relations_due(stale_after=stale_after).values_list("mal_id", flat=True)[:limit])
    try:
        for anime_id in due:
            try:
                related = client.anime_related(anime_id)
            except MalNotFound:
                # Deleted or merged on MAL: it relates to nothing any more.
                related = []
                result.not_found += 1
            except MalError as exc:
                if not exc.retryable:
                    raise
                result.error = f"{type(exc).__name__}: {exc}"
                logger.warning("relation sync stopped at %s: %s", anime_id, exc)
                break
            edges = sorted(
                {(r.mal_id, r.relation_type) for r in related if r.relation_type in VALID_TYPES}
            )
            result.relations += _store(anime_id, edges)
            result.titles += 1
            if progress:
                progress(1)
    finally:
        if owns_client:
            client.close()
        if result.titles:
            franchise_index_invalidate()
    result.remaining = relations_due(stale_after=stale_after).count()
    return result
